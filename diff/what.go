package diff

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/workload"
)

// aspects are what a reviewer asks of a changed model, each read from the
// pod template(s) of its workload, live against predicted.
var aspects = []struct {
	name  string
	paths [][]string // below a pod spec
}{
	{"image", [][]string{{"containers", "0", "image"}}},
	{"engine flags", [][]string{{"containers", "0", "args"}, {"containers", "0", "command"}, {"containers", "0", "env"}}},
	{"hardware", [][]string{{"containers", "0", "resources"}, {"affinity"}, {"tolerations"}, {"nodeSelector"}}},
	{"probes", [][]string{{"containers", "0", "startupProbe"}, {"containers", "0", "readinessProbe"}, {"containers", "0", "livenessProbe"}}},
}

// whatChanged names what an update of one of a model's objects changes:
// image, engine flags, hardware, probes and replicas of its workload, and
// routing for its gateway objects and its entries in shared ones.
func whatChanged(p Prediction) []string {
	if p.Change.Action == Replace {
		// What cannot change in place, as the API server named it.
		var out []string
		for _, f := range p.Change.Immutable {
			if f == "spec.volumeClaimTemplates" {
				f = "claim template"
			}
			out = append(out, f)
		}
		return out
	}
	if p.Live == nil || p.Predicted == nil {
		return nil
	}
	templates := workload.Templates(p.Live)
	if len(templates) == 0 {
		return []string{"routing"}
	}
	var out []string
	for _, a := range aspects {
		for _, t := range templates {
			if changedAt(p.Live, p.Predicted, t.SpecPath(), a.paths) && !slices.Contains(out, a.name) {
				out = append(out, a.name)
			}
		}
	}
	if changedAt(p.Live, p.Predicted, []string{"spec"}, [][]string{{"replicas"}}) {
		out = append(out, "replicas")
	}
	return out
}

// changedAt reports whether any of paths below base differs.
func changedAt(live, predicted *unstructured.Unstructured, base []string, paths [][]string) bool {
	for _, path := range paths {
		full := append(slices.Clone(base), path...)
		a, _ := nested(live.Object, full)
		b, _ := nested(predicted.Object, full)
		if !equality.Semantic.DeepEqual(a, b) {
			return true
		}
	}
	return false
}

// nested walks maps and, for numeric path elements, lists.
func nested(obj any, path []string) (any, bool) {
	cur := obj
	for _, k := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i := 0
			for _, r := range k {
				if r < '0' || r > '9' {
					return nil, false
				}
				i = i*10 + int(r-'0')
			}
			if i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
