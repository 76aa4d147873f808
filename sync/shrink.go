package sync

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/model"
)

// ErrShrink refuses a sync that would empty most of a generated list: a
// wrong --path (a tree holding only the chat catalogue's ConfigMap) would
// otherwise write a catalogue without the models that still serve.
var ErrShrink = errors.New("a generated list would lose most of its entries")

// shrinks finds the catalogues (model.AnnotationCatalogue) the sync would
// cut to less than half of the models they list now.
func shrinks(res *diff.Result) []string {
	var out []string
	for _, p := range res.Predictions {
		if p.Live == nil || p.Applied == nil || p.Object.GetKind() != "ConfigMap" {
			continue
		}
		key, ok := p.Object.GetAnnotations()[model.AnnotationCatalogue]
		if !ok {
			continue
		}
		before, after := catalogueLen(p.Live, key), catalogueLen(p.Applied, key)
		if before >= 2 && 2*after < before {
			out = append(out, fmt.Sprintf("ConfigMap %s (%s): the catalogue would list %d models instead of %d", p.Object.GetName(), p.Object.Origin, after, before))
		}
	}
	return out
}

func catalogueLen(u *unstructured.Unstructured, key string) int {
	s, _, _ := unstructured.NestedString(u.Object, "data", key)
	var entries []json.RawMessage
	if json.Unmarshal([]byte(s), &entries) != nil {
		return 0
	}
	return len(entries)
}
