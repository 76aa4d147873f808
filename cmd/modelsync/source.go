package main

import (
	"context"
	"fmt"
	"io"

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
}

func (f *sourceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "path", "./models-config", "the models-config directory")
	fs.StringVar(&f.revision, "revision", "", "read the tree as it was at this git revision (branch, tag, commit) instead of the work tree")
	namespaceFlag(fs, &f.namespace)
}

// namespaceFlag is kubectl's -n/--namespace.
func namespaceFlag(fs *pflag.FlagSet, ns *string) {
	fs.StringVarP(ns, "namespace", "n", "", "target namespace (default: the kubeconfig context's namespace, else \"default\")")
}

func (f *sourceFlags) tree() (manifest.Tree, error) {
	if f.revision != "" {
		return manifest.AtRevision(f.path, f.revision)
	}
	return manifest.WorkTree(f.path)
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
