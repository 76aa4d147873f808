package diff

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// normalize returns a copy of u as a plan compares and shows it: its
// content (without status and the server's bookkeeping), and without its
// uid (a dry-run prediction of a new object has none) and kubectl's
// last-applied annotation.
func normalize(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	out := runtime.DeepCopyJSON(content(u))
	if md, ok := out["metadata"].(map[string]any); ok {
		delete(md, "uid")
		if a, ok := md["annotations"].(map[string]any); ok {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration")
			if len(a) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return out
}

// maskSecrets hides Secret values in both versions: "***" where a value is the
// same, "*** (before)" / "*** (after)" where it changed, so a plan shows that a
// key changed without showing its value.
func maskSecrets(before, after map[string]any) {
	kind := func(m map[string]any) string {
		if m == nil {
			return ""
		}
		k, _ := m["kind"].(string)
		return k
	}
	if kind(before) != "Secret" && kind(after) != "Secret" {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		b, _ := fieldMap(before, field)
		a, _ := fieldMap(after, field)
		for k, v := range b {
			if av, ok := a[k]; ok && fmt.Sprint(av) == fmt.Sprint(v) {
				b[k], a[k] = "***", "***"
			} else {
				b[k] = "*** (before)"
			}
		}
		for k, v := range a {
			if v != "***" {
				a[k] = "*** (after)"
			}
		}
	}
}

func fieldMap(m map[string]any, field string) (map[string]any, bool) {
	if m == nil {
		return nil, false
	}
	f, ok := m[field].(map[string]any)
	return f, ok
}

func yamlOf(m map[string]any) (string, error) {
	if m == nil {
		return "", nil
	}
	b, err := yaml.Marshal(m)
	return string(b), err
}

// unifiedDiff is a unified diff of two YAML texts with three lines of context.
func unifiedDiff(before, after, name string) (string, error) {
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(before), B: difflib.SplitLines(after),
		FromFile: "live/" + name, ToFile: "desired/" + name, Context: 3,
	})
}

// compare returns the masked YAML diff of live → predicted, empty when equal.
func compare(live, predicted *unstructured.Unstructured, name string) (string, error) {
	before, after := normalize(live), normalize(predicted)
	if before != nil && equality.Semantic.DeepEqual(before, after) {
		return "", nil // most objects of a no-op plan: no YAML needed
	}
	maskSecrets(before, after)
	b, err := yamlOf(before)
	if err != nil {
		return "", err
	}
	a, err := yamlOf(after)
	if err != nil {
		return "", err
	}
	if a == b {
		return "", nil
	}
	d, err := unifiedDiff(b, a, name)
	return strings.TrimRight(d, "\n"), err
}
