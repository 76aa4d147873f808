package desired_test

import (
	"testing"

	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/internal/kubetest"
	"modelsync.dev/modelsync/manifest"
)

func BenchmarkLoad1000Models(b *testing.B) {
	files := kubetest.GeneratedTree(1000)
	b.ReportAllocs()
	for b.Loop() {
		set, err := desired.Load(b.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: "bench"})
		if err != nil || set.HasErrors() {
			b.Fatalf("%v %v", err, set.Diagnostics)
		}
		if len(set.Objects) < 4000 {
			b.Fatalf("%d objects", len(set.Objects))
		}
	}
}
