package desired_test

import (
	"runtime"
	"runtime/debug"
	"testing"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// BenchmarkLoad1000Models loads and generates a tree of 1,000 Models. With
// the collector at Go's default, and as the modelsync process runs it: the
// collector off until the plan is made (cmd/modelsync/main.go), each run
// starting from a collected heap, as a fresh process does.
func BenchmarkLoad1000Models(b *testing.B) {
	files := kubetest.GeneratedTree(1000)
	load := func(b *testing.B) {
		set, err := desired.Load(b.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: "bench"})
		if err != nil || set.HasErrors() {
			b.Fatalf("%v %v", err, set.Diagnostics)
		}
		if len(set.Objects) < 4000 {
			b.Fatalf("%d objects", len(set.Objects))
		}
	}
	b.Run("gc=default", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			load(b)
		}
	})
	b.Run("gc=as-process", func(b *testing.B) {
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			b.StartTimer()
			load(b)
		}
	})
}
