package diff

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// entryModel is the Model an entry of a shared object belongs to: the one
// whose objects it points at (a rule at its AIServiceBackend or pool, a
// targetRef at its AIServiceBackend), as their model label says; "" when
// they belong to none or to several.
func entryModel(owner *unstructured.Unstructured, key string, members map[manifest.ID]*unstructured.Unstructured) string {
	if owner == nil {
		return ""
	}
	found := ""
	for _, r := range gateway.Refs(owner) {
		if r.Entry != key {
			continue
		}
		m := members[r.ID]
		if m == nil {
			continue
		}
		name := m.GetLabels()[model.LabelModel]
		if name == "" || found != "" && found != name {
			return ""
		}
		found = name
	}
	return found
}

// addEntry lists a removed entry under its Model in the models table, or
// among the shared objects' changes.
func (p *Plan) addEntry(c Change) {
	for i := range p.Models {
		if p.Models[i].Name == c.Model {
			p.Models[i].Objects = append(p.Models[i].Objects, c.Line())
			return
		}
	}
	p.Unowned = append(p.Unowned, c.Line())
}
