package desired_test

import (
	"os"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// FuzzLoad loads the example tree with a hand-written route, traffic policy
// and Model replaced by the fuzzer's input, and walks every shared object's
// entries the way diff and prune do. Malformed input must become
// diagnostics, never a panic. Seeds: the files of models-config/ and the
// malformed shapes in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	read := func(p string) []byte {
		b, err := os.ReadFile("../../models-config/" + p)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(read("gatewayroute/nrp.yaml"), read("trafficpolicy.yaml"), read("models/qwen3.yaml"))
	f.Add(read("gatewayroute/nrp-qwen.yaml"), read("securitypolicy.yaml"), read("models/qwen3-combined.yaml"))
	base := repoTree(f)
	f.Fuzz(func(t *testing.T, route, policy, model []byte) {
		if len(route)+len(policy)+len(model) > 16<<10 {
			return // the YAML scanner is quadratic in some inputs; hand-written files are far smaller
		}
		files := fstest.MapFS{}
		for k, v := range base {
			files[k] = v
		}
		files["models-config/gatewayroute/nrp.yaml"] = &fstest.MapFile{Data: route}
		files["models-config/trafficpolicy.yaml"] = &fstest.MapFile{Data: policy}
		files["models-config/models/qwen3.yaml"] = &fstest.MapFile{Data: model}
		set, err := desired.Load(t.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: ns})
		if err != nil {
			return
		}
		for _, o := range set.Objects {
			for _, it := range gateway.Items(o.Unstructured) {
				_ = it.Key
			}
			_ = gateway.Refs(o.Unstructured)
			_ = gateway.ShapeErrors(o.Unstructured)
			if _, err := yaml.Marshal(o.Object); err != nil {
				t.Fatalf("%s: %v", o.ID(), err)
			}
		}
		for _, d := range set.Diagnostics {
			_ = d.String()
		}
	})
}
