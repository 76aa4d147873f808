package diff

import (
	"encoding/json"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// A catalogue (model.AnnotationCatalogue) lists the models the routes
// serve. A rule that left the tree keeps serving until the approved prune
// removes it (sync keeps it live), so its model stays in the catalogue until
// then too: sync keeps the live catalogue entries of models whose rules
// await the prune, and the prune drops them once it removed those rules
// (Settle). The chat UI never lists a model that is not routed, nor hides
// one that is.

// rulesAwaitingPrune are the rule keys of live routes that no route of the
// tree has: the models still served until the approved prune.
func rulesAwaitingPrune(set *desired.Set, live map[manifest.ID]*unstructured.Unstructured) map[string]bool {
	wanted := map[string]bool{}
	for _, o := range set.Objects {
		if gateway.IsRoute(o) {
			for _, it := range gateway.Items(o.Unstructured) {
				wanted[it.Key] = true
			}
		}
	}
	out := map[string]bool{}
	for _, u := range live {
		if gateway.IsRoute(u) {
			for _, it := range gateway.Items(u) {
				if !wanted[it.Key] {
					out[it.Key] = true
				}
			}
		}
	}
	return out
}

// catalogueKey is the data key of a catalogue ConfigMap.
func catalogueKey(u *unstructured.Unstructured) (string, bool) {
	key, ok := u.GetAnnotations()[model.AnnotationCatalogue]
	return key, ok && key != "" && u.GetKind() == "ConfigMap" && u.GroupVersionKind().Group == ""
}

func catalogueEntries(u *unstructured.Unstructured, key string) ([]model.CatalogueEntry, bool) {
	s, _, _ := unstructured.NestedString(u.Object, "data", key)
	var entries []model.CatalogueEntry
	return entries, json.Unmarshal([]byte(s), &entries) == nil
}

func setCatalogue(u *unstructured.Unstructured, key string, entries []model.CatalogueEntry) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	if entries == nil {
		entries = []model.CatalogueEntry{}
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err == nil {
		_ = unstructured.SetNestedField(u.Object, string(data)+"\n", "data", key)
	}
}

// holdCatalogue adds back to a catalogue the live entries of models whose
// rules await the prune, and names them.
func holdCatalogue(applied, live *unstructured.Unstructured, awaiting map[string]bool) []string {
	key, ok := catalogueKey(applied)
	if !ok || live == nil || len(awaiting) == 0 {
		return nil
	}
	have, ok1 := catalogueEntries(live, key)
	want, ok2 := catalogueEntries(applied, key)
	if !ok1 || !ok2 {
		return nil
	}
	var held []string
	for _, e := range have {
		if awaiting[e.Name] && !slices.ContainsFunc(want, func(w model.CatalogueEntry) bool { return w.Name == e.Name }) {
			want = append(want, e)
			held = append(held, e.Name)
		}
	}
	if len(held) > 0 {
		setCatalogue(applied, key, want)
	}
	return held
}

// Settle is the configuration of a catalogue whose held entries (the
// prediction's Held) are no longer served: the catalogue without those of
// them that served reports false for. Nil when it drops none.
func Settle(p Prediction, served func(name string) bool) *unstructured.Unstructured {
	key, ok := catalogueKey(p.Applied)
	if !ok || len(p.Held) == 0 {
		return nil
	}
	entries, _ := catalogueEntries(p.Applied, key)
	kept := slices.DeleteFunc(slices.Clone(entries), func(e model.CatalogueEntry) bool {
		return slices.Contains(p.Held, e.Name) && !served(e.Name)
	})
	if len(kept) == len(entries) {
		return nil
	}
	out := p.Applied.DeepCopy()
	setCatalogue(out, key, kept)
	return out
}
