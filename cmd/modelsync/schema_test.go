package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/api/meta"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/validation"
)

// Offline validation is the API server's verdict: each object is validated
// offline with the CRDs the harness installs (the project's own, CEL rules
// included) and built-in kinds decoded strictly, then dry-run applied with
// strict field validation; the two agree on whether it is refused.
func TestOfflineValidationMatchesTheAPIServer(t *testing.T) {
	ns := kubetest.Namespace(t)
	root, err := controlplane.RepoRoot(must(os.Getwd()))
	if err != nil {
		t.Fatal(err)
	}
	var crds []manifest.Object
	for _, d := range controlplane.CRDDirs(root) {
		got, err := desired.CRDs(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		crds = append(crds, got...)
	}
	c, err := cluster.New(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	route := func(rules string) string {
		return "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata:\n  name: r\nspec:\n  parentRefs:\n  - name: gw\n    kind: Gateway\n    group: gateway.networking.k8s.io\n  rules:\n" + rules
	}
	rule := func(i int) string {
		return fmt.Sprintf("  - matches:\n    - headers:\n      - {type: Exact, name: x-ai-eg-model, value: m%d}\n    backendRefs:\n    - name: b%d\n", i, i)
	}
	var sixteen string
	for i := range 16 {
		sixteen += rule(i)
	}
	for _, tc := range []struct {
		name, yaml string
		refused    bool
	}{
		{"a Service as written", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n", false},
		{"a misspelt Service field", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n    targetPortt: 8080\n", true},
		{"a list-valued annotation", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    note: [a, b]\n", true},
		{"a string where a number goes", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\nspec:\n  replicas: two\n  selector: {matchLabels: {app: s}}\n  template:\n    metadata: {labels: {app: s}}\n    spec:\n      containers: [{name: c, image: i}]\n", true},
		{"a bogus ClientTrafficPolicy field", "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata:\n  name: p\nspec:\n  bogus: true\n  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw}\n", true},
		{"a route as written", route(rule(0)), false},
		{"two pools in one rule (CEL)", route("  - backendRefs:\n    - {name: a, group: inference.networking.k8s.io, kind: InferencePool}\n    - {name: b, group: inference.networking.k8s.io, kind: InferencePool}\n"), true},
		{"a pool of the experimental group (CEL)", route("  - backendRefs:\n    - {name: a, group: inference.networking.x-k8s.io, kind: InferencePool}\n"), true},
		{"sixteen rules", route(sixteen), true},
	} {
		if tc.name == "two pools in one rule (CEL)" {
			// validate --kubeconfig takes the CRDs, CEL rules included, from the cluster.
			dir := kubetest.WriteTree(t, fstest.MapFS{"models-config/o.yaml": &fstest.MapFile{Data: []byte(tc.yaml)}})
			code, out, stderr := run("validate", "--path", dir, "-n", ns, "--kubeconfig", kubetest.KubeconfigFile(t))
			if code != 1 || !strings.Contains(out, "only one InferencePool backend is allowed per rule") {
				t.Errorf("validate --kubeconfig of a rule with two pools: exit %d\n%s%s", code, out, stderr)
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			set, err := desired.Load(t.Context(), manifest.Tree{FS: fstest.MapFS{"models-config/o.yaml": &fstest.MapFile{Data: []byte(tc.yaml)}}, Root: "models-config"}, desired.Options{Namespace: ns, CRDs: crds})
			if err != nil {
				t.Fatal(err)
			}
			var offline []string
			for _, d := range set.Diagnostics {
				if d.Severity == validation.Error && d.Rule == "schema" {
					offline = append(offline, d.String())
				}
			}
			_, server := c.Apply(t.Context(), set.Objects[0].Unstructured, cluster.ApplyOptions{FieldManager: "modelsync", DryRun: true})
			if meta.IsNoMatchError(server) {
				// A kind the control plane does not serve: offline, without
				// its CRD, it is a warning that says so, never an error.
				if len(offline) > 0 {
					t.Errorf("a kind not served is refused offline: %q", offline)
				}
				return
			}
			if (len(offline) > 0) != (server != nil) {
				t.Errorf("offline and the API server disagree; offline: %q; API server: %v", offline, server)
			}
			if (server != nil) != tc.refused {
				t.Errorf("want refused=%v; offline: %q; API server: %v", tc.refused, offline, server)
			}
			for _, l := range offline {
				if len(l) > 300 {
					t.Errorf("an offline error longer than a line: %s", l)
				}
			}
		})
	}
}
