package generate

import (
	"encoding/json"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// catalogues fills every catalogue ConfigMap with the models the routes
// serve, hand-written rules included, so that the list follows the routes.
func (g *generator) catalogues() {
	var entries []model.CatalogueEntry
	embedding := map[string]bool{}
	for _, m := range g.byName {
		if m.Spec.Server != nil && m.Spec.Server.Embedding {
			embedding[m.ServedName()] = true
		}
	}
	for _, o := range g.out.Objects {
		if !gateway.IsRoute(o) {
			continue
		}
		for _, it := range gateway.Items(o.Unstructured) {
			owner, _ := it.Value["modelsOwnedBy"].(string)
			kind := "chat"
			if embedding[it.Key] {
				kind = "embedding"
			}
			entries = append(entries, model.CatalogueEntry{Name: it.Key, Owner: owner, Kind: kind})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	if entries == nil {
		entries = []model.CatalogueEntry{}
	}
	for _, o := range g.out.Objects {
		key, ok := o.GetAnnotations()[model.AnnotationCatalogue]
		if !ok || o.GetKind() != "ConfigMap" {
			continue
		}
		if key == "" {
			g.errs = append(g.errs, &manifest.Error{Origin: o.Origin, Msg: fmt.Sprintf("ConfigMap %s: annotation %s names no data key; write, for example, %s: models.json", o.GetName(), model.AnnotationCatalogue, model.AnnotationCatalogue)})
			continue
		}
		data, err := json.MarshalIndent(entries, "", "  ")
		if err != nil {
			g.errs = append(g.errs, err)
			continue
		}
		if err := unstructured.SetNestedField(o.Object, string(data)+"\n", "data", key); err != nil {
			g.errs = append(g.errs, &manifest.Error{Origin: o.Origin, Msg: fmt.Sprintf("ConfigMap %s: %v", o.GetName(), err)})
		}
	}
}
