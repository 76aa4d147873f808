package diff_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// BenchmarkNoOpDiff syncs n generated models, then times, in one run on the
// same control plane, modelsync's no-op plan (the mean of b.N plans, each
// with fresh clients), one `diff --full` plan that dry-runs every object, and
// one `kubectl diff --server-side` of the same objects. Run with `make bench`
// (-benchtime=3x: kubectl runs once either way, and takes a minute on the
// larger set).
func BenchmarkNoOpDiff(b *testing.B) {
	for _, models := range []int{100, 1000} {
		b.Run(fmt.Sprintf("models=%d", models), func(b *testing.B) { benchNoOp(b, models) })
	}
}

func benchNoOp(b *testing.B, models int) {
	e := &env{kubetest.NewEnv(b)}
	files := kubetest.GeneratedTree(models)
	set, err := desired.Load(b.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: e.NS})
	if err != nil || set.HasErrors() {
		b.Fatal(err, set.Diagnostics)
	}
	syncSet(b, e, set)
	// --full first: it dry-runs every object, as kubectl diff does.
	fullOpts := diff.DefaultOptions()
	fullOpts.Full = true
	full, fullPlan := timePlan(b, e.NS, fullOpts, set)
	var plan *diff.Plan
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var ours time.Duration
	for b.Loop() {
		took, p := timePlan(b, e.NS, diff.DefaultOptions(), set)
		ours += took
		plan = p
	}
	ours /= time.Duration(b.N)
	runtime.ReadMemStats(&after)
	if plan.HasChanges() || fullPlan.HasChanges() {
		b.Fatalf("no-op plan has changes")
	}
	theirs := kubectlDiff(b, e.NS, plan, set)
	b.ReportMetric(float64(len(set.Objects)), "objects")
	b.ReportMetric(ours.Seconds(), "modelsync-s")
	b.ReportMetric(full.Seconds(), "full-s")
	b.ReportMetric(theirs.Seconds(), "kubectl-s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "speedup")
	b.ReportMetric(theirs.Seconds()/full.Seconds(), "full-speedup")
	b.ReportMetric(float64(plan.Requests), "requests")
	b.ReportMetric(float64(fullPlan.Requests), "full-requests")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MiB-alloc/plan")
}

// timePlan times one plan on clients of its own, discovery included, as a
// modelsync process does it.
func timePlan(b *testing.B, ns string, opts diff.Options, set *desired.Set) (time.Duration, *diff.Plan) {
	start := time.Now()
	c, err := cluster.New(kubetest.Config(b))
	if err != nil {
		b.Fatal(err)
	}
	res, err := diff.New(c.Reader(), ns, opts).Plan(b.Context(), set)
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start), res.Plan
}

// kubectlDiff times kubectl diff --server-side on the objects the sync applied.
func kubectlDiff(b *testing.B, ns string, plan *diff.Plan, set *desired.Set) time.Duration {
	dir := b.TempDir()
	kc, err := kubetest.ControlPlane(b).Kubeconfig()
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	var objs bytes.Buffer
	for _, o := range set.Objects {
		u := o.DeepCopy()
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l["applyset.kubernetes.io/part-of"] = plan.Inventory
		u.SetLabels(l)
		y, _ := yaml.Marshal(u.Object)
		objs.WriteString("---\n")
		objs.Write(y)
	}
	file := filepath.Join(dir, "objects.yaml")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, objs.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "-n", ns, "diff", "--server-side",
		"--field-manager=modelsync", "--force-conflicts", "-f", file).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("kubectl diff reported differences or failed (%v): %.2000s", err, out)
	}
	return took
}
