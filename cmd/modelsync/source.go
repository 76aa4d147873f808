package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/validation"
)

// sourceFlags say which tree to read and for which namespace.
type sourceFlags struct {
	path      string
	revision  string
	namespace string
	crds      []string
	// remoteBases lets kustomizations fetch remote resources.
	remoteBases bool
}

func (f *sourceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "path", "./models-config", "the models-config directory")
	fs.StringVar(&f.revision, "revision", "", "read the tree as it was at this git revision (branch, tag, commit) instead of the work tree")
	namespaceFlag(fs, &f.namespace)
	fs.BoolVar(&f.remoteBases, "allow-remote-bases", false, "let kustomizations in the tree name remote resources (URLs, git repositories), which are then fetched; off, they are refused, since a merge request's tree could make modelsync fetch any URL")
	fs.StringArrayVar(&f.crds, "crds", nil, "a folder of CustomResourceDefinitions whose kinds the tree may use (repeatable); without it, and offline, kinds modelsync does not know are warnings")
}

// namespaceFlag is kubectl's -n/--namespace.
func namespaceFlag(fs *pflag.FlagSet, ns *string) {
	fs.StringVarP(ns, "namespace", "n", "", "target namespace (default: the kubeconfig context's namespace, else \"default\")")
}

// source is the tree, read once, and the namespace it targets.
type source struct {
	flags *sourceFlags
	tree  manifest.Tree
	files *desired.Files
	// namespace is -n, else the one namespace the tree's objects name
	// (as kubectl takes an object's own), else "" for the caller's default.
	namespace string
}

// open reads the tree (at --revision when given) and finds its namespace.
func (f *sourceFlags) open(ctx context.Context) (*source, error) {
	var tree manifest.Tree
	var err error
	if f.revision != "" {
		tree, err = manifest.AtRevision(f.path, f.revision)
	} else {
		tree, err = manifest.WorkTree(f.path)
	}
	if err != nil {
		return nil, err
	}
	tree.RemoteBases = f.remoteBases
	files, err := desired.Read(ctx, tree)
	if err != nil {
		return nil, err
	}
	s := &source{flags: f, tree: tree, files: files, namespace: f.namespace}
	if s.namespace == "" {
		switch named := files.Namespaces(); {
		case len(named) > 1:
			return nil, fmt.Errorf("the tree names several namespaces (%s); pass -n to choose the target", strings.Join(named, ", "))
		case len(named) == 1:
			s.namespace = named[0]
		}
	}
	return s, nil
}

// at is the same source flags at another revision (diff --baseline).
func (f *sourceFlags) at(revision string) *sourceFlags {
	g := *f
	g.revision = revision
	return &g
}

// offlineNamespace is the target of the commands that read no cluster:
// without -n or a namespace in the tree, "default", as kubectl.
func (s *source) offlineNamespace() string { return cmp.Or(s.namespace, "default") }

// clusterView is what a cluster adds to the checks of a tree: which kinds
// it serves, and its CustomResourceDefinitions. Offline it is empty.
type clusterView struct {
	served func(schema.GroupKind) bool
	crds   []manifest.Object
}

// load generates and validates the tree's objects for namespace ns. A
// source is loaded once.
func (s *source) load(ctx context.Context, ns string, view clusterView) (*desired.Set, error) {
	opts := desired.DefaultOptions()
	if ns != "" {
		opts.Namespace = ns
	}
	for _, dir := range s.flags.crds {
		crds, err := desired.CRDs(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("--crds: %w", err)
		}
		opts.CRDs = append(opts.CRDs, crds...)
	}
	opts.Served = view.served
	opts.CRDs = append(opts.CRDs, view.crds...)
	return s.files.Build(opts)
}

// loadValid is load for the commands that need a tree without errors: the
// diagnostics go to stderr and the exit code is that of validate's errors.
func (s *source) loadValid(ctx context.Context, ns string, stderr io.Writer) (*desired.Set, error) {
	set, err := s.load(ctx, ns, clusterView{})
	if err != nil {
		return nil, err
	}
	if set.HasErrors() {
		printDiagnostics(stderr, set.Diagnostics)
		return nil, exitCode(exitChanges)
	}
	return set, nil
}

// loadOffline reads the tree and loads it for its offline namespace, as
// loadValid: for the offline commands that need a tree without errors.
func (f *sourceFlags) loadOffline(ctx context.Context, stderr io.Writer) (*desired.Set, string, error) {
	src, err := f.open(ctx)
	if err != nil {
		return nil, "", err
	}
	ns := src.offlineNamespace()
	set, err := src.loadValid(ctx, ns, stderr)
	return set, ns, err
}

// printDiagnostics writes one line per diagnostic and a summary.
func printDiagnostics(w io.Writer, ds []validation.Diagnostic) {
	errs, warns := 0, 0
	for _, d := range ds {
		fmt.Fprintln(w, d.String())
		if d.Severity == validation.Error {
			errs++
		} else {
			warns++
		}
	}
	if len(ds) > 0 {
		fmt.Fprintf(w, "%d error(s), %d warning(s)\n", errs, warns)
	}
}
