package main

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/manifest"
	"modelsync.dev/modelsync/validation"
)

// sourceFlags say which tree to read and for which namespace.
type sourceFlags struct {
	path      string
	revision  string
	namespace string
	crds      []string
	// remoteBases lets kustomizations fetch remote resources.
	remoteBases bool
	// served asks the cluster about kinds, for the commands that have one.
	served func(schema.GroupKind) bool
	// clusterCRDs are the cluster's CRDs, for validate --kubeconfig.
	clusterCRDs []manifest.Object
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

func (f *sourceFlags) tree() (manifest.Tree, error) {
	var t manifest.Tree
	var err error
	if f.revision != "" {
		t, err = manifest.AtRevision(f.path, f.revision)
	} else {
		t, err = manifest.WorkTree(f.path)
	}
	t.RemoteBases = f.remoteBases
	return t, err
}

// load reads and validates the tree for namespace ns.
func (f *sourceFlags) load(ctx context.Context, ns string) (*desired.Set, error) {
	tree, err := f.tree()
	if err != nil {
		return nil, err
	}
	opts := desired.DefaultOptions()
	if ns != "" {
		opts.Namespace = ns
	}
	for _, dir := range f.crds {
		crds, err := desired.CRDs(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("--crds: %w", err)
		}
		opts.CRDs = append(opts.CRDs, crds...)
	}
	opts.Served = f.served
	opts.CRDs = append(opts.CRDs, f.clusterCRDs...)
	return desired.Load(ctx, tree, opts)
}

// loadValid is load for the commands that need a tree without errors: the
// diagnostics go to stderr and the exit code is that of validate's errors.
func (f *sourceFlags) loadValid(ctx context.Context, ns string, stderr io.Writer) (*desired.Set, error) {
	set, err := f.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	if set.HasErrors() {
		printDiagnostics(stderr, set.Diagnostics)
		return nil, exitCode(exitChanges)
	}
	return set, nil
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

// targetNamespace is -n, else the one namespace the tree's objects name (as
// kubectl takes an object's own namespace), else "" for the caller's default.
func (f *sourceFlags) targetNamespace(ctx context.Context) (string, error) {
	if f.namespace != "" {
		return f.namespace, nil
	}
	tree, err := f.tree()
	if err != nil {
		return "", err
	}
	named, err := desired.Namespaces(ctx, tree)
	switch {
	case err != nil:
		return "", err
	case len(named) > 1:
		return "", fmt.Errorf("the tree names several namespaces (%s); pass -n to choose the target", strings.Join(named, ", "))
	case len(named) == 1:
		f.namespace = named[0]
	}
	return f.namespace, nil
}

// offlineNamespace is targetNamespace for the commands that read no cluster:
// without -n or a namespace in the tree, "default", as kubectl.
func (f *sourceFlags) offlineNamespace(ctx context.Context) (string, error) {
	ns, err := f.targetNamespace(ctx)
	return cmp.Or(ns, "default"), err
}
