package controlplane_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// expectAnnotation on a case in testdata/crd-cases says what the
// upstream CRDs answer: "accepted" or "refused". It keeps each case honest:
// a case meant to show a CEL rule must be refused upstream.
const expectAnnotation = "fidelity.modelsync.dev/expect"

// TestCRDFidelity: the project's own CRDs (testdata/crds), which every other
// test installs, accept, refuse and default what the upstream CRDs do. Each
// object is dry-run created, with strict field validation, on two API
// servers: the package's, holding the project's CRDs, and one holding the
// upstream CRDs from MODELSYNC_UPSTREAM_CRDS. The answers (the defaulted
// object, or the error) must be the same. The objects are everything the
// project's trees generate of those kinds, and the cases in
// testdata/crd-cases: valid, invalid by schema or CEL, defaults to fill.
func TestCRDFidelity(t *testing.T) {
	dir := os.Getenv(controlplane.UpstreamCRDsEnv)
	if dir == "" {
		t.Skipf("did not run: %s is not set. Set it to a folder of the upstream CRDs (testdata/crds/README.md names "+
			"each release) to compare the project's CRDs with them; no other test depends on it", controlplane.UpstreamCRDsEnv)
	}
	root := repoRoot(t)
	upstreamDirs, err := controlplane.UpstreamCRDDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := controlplane.Start(t.Context(), controlplane.Options{AssetsDir: os.Getenv(controlplane.AssetsEnv), CRDDirs: upstreamDirs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upstream.Stop() })

	kinds := map[schema.GroupVersionKind]schema.GroupVersionResource{}
	for _, crd := range kubetest.ControlPlane(t).CRDs {
		for _, v := range crd.Spec.Versions {
			if v.Served {
				kinds[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] =
					schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural}
			}
		}
	}
	cases := append(generatedCases(t, root, kinds), fileCases(t, filepath.Join(root, "testdata", "crd-cases"))...)

	const ns = "fidelity"
	ours, theirs := dryRunner(t, kubetest.Config(t), ns), dryRunner(t, upstream.Config, ns)
	count := map[string]int{}
	var differences int
	for _, c := range cases {
		gvr, ok := kinds[c.obj.GroupVersionKind()]
		if !ok {
			t.Errorf("%s: kind %s is not served by testdata/crds", c.name, c.obj.GroupVersionKind())
			continue
		}
		count[c.obj.GetKind()]++
		want, got := theirs(gvr, c.obj), ours(gvr, c.obj)
		if d := cmp.Diff(want, got); d != "" {
			differences++
			t.Errorf("%s: testdata/crds answers differently from upstream (-upstream +ours):\n%s", c.name, d)
		}
		if e := c.obj.GetAnnotations()[expectAnnotation]; e != "" && !strings.HasPrefix(want, e) {
			t.Errorf("%s: upstream %s, the case expects %s", c.name, strings.SplitN(want, "\n", 2)[0], e)
		}
	}
	var summary []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range count {
			if !yield(k) {
				return
			}
		}
	}) {
		summary = append(summary, fmt.Sprintf("%s %d", k, count[k]))
	}
	t.Logf("compared with %s: %s; %d difference(s)", dir, strings.Join(summary, ", "), differences)
}

type fidelityCase struct {
	name string
	obj  *unstructured.Unstructured
}

func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := controlplane.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// generatedCases are the objects of the CRDs' kinds that the project's own
// trees load to: what modelsync writes in every test.
func generatedCases(t *testing.T, root string, kinds map[schema.GroupVersionKind]schema.GroupVersionResource) []fidelityCase {
	trees := []string{"models-config", "testdata/fixture/models-config", "testdata/runbook"}
	variants, _ := filepath.Glob(filepath.Join(root, "testdata", "variants", "*"))
	for _, v := range variants {
		rel, _ := filepath.Rel(root, v)
		trees = append(trees, rel)
	}
	var out []fidelityCase
	for _, tree := range trees {
		set, err := desired.Load(t.Context(), manifest.Dir(filepath.Join(root, tree)), desired.Options{Namespace: "fidelity"})
		if err != nil {
			t.Fatalf("%s: %v", tree, err)
		}
		for _, o := range set.Objects {
			if _, ok := kinds[o.GroupVersionKind()]; ok {
				out = append(out, fidelityCase{name: fmt.Sprintf("%s: %s %s", tree, o.GetKind(), o.GetName()), obj: o.Unstructured.DeepCopy()})
			}
		}
	}
	return out
}

// fileCases reads every YAML document in dir.
func fileCases(t *testing.T, dir string) []fidelityCase {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in %s: %v", dir, err)
	}
	var out []fidelityCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 1; ; i++ {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			out = append(out, fidelityCase{name: fmt.Sprintf("%s#%d %s", filepath.Base(f), i, u.GetName()), obj: u})
		}
	}
	return out
}

// dryRunner returns a function that dry-run creates an object in ns on the
// API server of cfg and returns its answer as text: "accepted" and the
// object as the server would store it (without server-set metadata), or
// "refused" and the error.
func dryRunner(t *testing.T, cfg *rest.Config, ns string) func(schema.GroupVersionResource, *unstructured.Unstructured) string {
	cs := kubernetes.NewForConfigOrDie(cfg)
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	dc := dynamic.NewForConfigOrDie(cfg)
	return func(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) string {
		o := obj.DeepCopy()
		o.SetNamespace(ns)
		got, err := dc.Resource(gvr).Namespace(ns).Create(t.Context(), o,
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			return "refused\n" + err.Error()
		}
		for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
			unstructured.RemoveNestedField(got.Object, "metadata", f)
		}
		b, err := yaml.Marshal(got.Object)
		if err != nil {
			t.Fatal(err)
		}
		return "accepted\n" + string(b)
	}
}
