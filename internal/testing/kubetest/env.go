package kubetest

import (
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// Env is one test's namespace on the package's control plane, with
// modelsync's clients.
type Env struct {
	T  testing.TB
	NS string
	C  *cluster.Clients
}

// NewEnv creates the test's namespace and clients.
func NewEnv(t testing.TB) *Env {
	c, err := cluster.New(Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, NS: Namespace(t), C: c}
}

// Plan loads files (paths under models-config/) for the namespace and plans
// them against the live namespace; a tree with errors fails the test.
func (e *Env) Plan(files fstest.MapFS) (*diff.Result, *diff.Differ) {
	e.T.Helper()
	return e.PlanWith(files, diff.DefaultOptions())
}

// PlanWith is Plan with the differ's options.
func (e *Env) PlanWith(files fstest.MapFS, opts diff.Options) (*diff.Result, *diff.Differ) {
	e.T.Helper()
	set, err := desired.Load(e.T.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: e.NS})
	if err != nil {
		e.T.Fatal(err)
	}
	if set.HasErrors() {
		e.T.Fatalf("tree has errors: %v", set.Diagnostics)
	}
	d := diff.New(e.C.Reader(), e.NS, opts)
	res, err := d.Plan(e.T.Context(), set)
	if err != nil {
		e.T.Fatal(err)
	}
	return res, d
}
