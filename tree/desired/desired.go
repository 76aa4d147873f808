// Package desired builds the desired set of a namespace from a models-config
// tree: load the files, decode the Model specs, generate their objects, and
// validate the result. Every later stage (render, diff, sync) starts here.
package desired

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/internal/parallel"
	"modelsync.dev/modelsync/tree/generate"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/tree/modelfiles"
	"modelsync.dev/modelsync/tree/sizing"
	"modelsync.dev/modelsync/tree/validation"
	"modelsync.dev/modelsync/workload"
)

// Options configures Load.
type Options struct {
	// Namespace is the target namespace; objects without one are placed in it.
	Namespace string
	// CRDs are CustomResourceDefinitions outside the tree (--crds): their
	// kinds are known, and objects of them checked against their schemas.
	CRDs []manifest.Object
	// Served asks the target cluster whether it serves a kind; nil offline.
	Served func(schema.GroupKind) bool
}

// DefaultOptions returns the options for the runbook's namespace.
func DefaultOptions() Options { return Options{Namespace: "default"} }

// Set is the desired state of one namespace.
type Set struct {
	// Objects are sorted by group, kind and name.
	Objects       []manifest.Object
	Models        []model.Model
	Contributions []generate.Contribution
	Diagnostics   []validation.Diagnostic
	// Starts is, per Model that modelsync.lock sizes, whether vLLM would
	// start each of its variants, one line each (sizing.VariantEstimate.Verdict).
	Starts map[string][]string
	// Autoscaled are the workloads whose spec.replicas an autoscaler of the
	// tree owns, each with it: their objects do not set it
	// (workload.LeaveReplicas).
	Autoscaled map[manifest.ID]string
	// Revision and Dirty describe the git state the tree was read from.
	Revision string
	Dirty    bool
}

// HasErrors reports whether validation found errors that block a sync.
func (s *Set) HasErrors() bool { return validation.HasErrors(s.Diagnostics) }

// Files are a tree's objects as read from its files, before the Model
// specs are decoded and generated: read once, then asked which namespaces
// they name and built into the Set of one namespace.
type Files struct {
	tree manifest.Tree
	objs []manifest.Object
	// err is a located problem of the files (broken YAML), which Build
	// reports as diagnostics.
	err error
}

// Read reads the tree's files. Problems in them are kept for Build to
// report; an error means the tree could not be read.
func Read(ctx context.Context, tree manifest.Tree) (*Files, error) {
	objs, err := manifest.Load(ctx, tree)
	var located *manifest.Error
	if err != nil && !errors.As(err, &located) {
		return nil, err
	}
	return &Files{tree: tree, objs: objs, err: err}, nil
}

// Namespaces lists the distinct metadata.namespace values the files'
// objects and Models name, sorted. Broken files are skipped: Build reports
// them.
func (f *Files) Namespaces() []string {
	seen := map[string]bool{}
	for _, o := range f.objs {
		if ns := o.GetNamespace(); ns != "" && !clusterScoped[o.GetKind()] {
			seen[ns] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// Load reads, generates and validates the tree. Problems in the input are
// diagnostics in the Set, not errors; an error means the tree could not be read.
func Load(ctx context.Context, tree manifest.Tree, opts Options) (*Set, error) {
	f, err := Read(ctx, tree)
	if err != nil {
		return nil, err
	}
	return f.Build(opts)
}

// Build generates and validates the Set of opts.Namespace from the files,
// which it takes over: build a Set once per Read.
func (f *Files) Build(opts Options) (*Set, error) {
	if opts.Namespace == "" {
		return nil, errors.New("no target namespace")
	}
	tree, objs := f.tree, f.objs
	set := &Set{Revision: tree.Revision, Dirty: tree.Dirty}
	if f.err != nil {
		set.addErrors("yaml", f.err)
	}
	var raw []manifest.Object
	models := decodeModels(objs)
	for i, o := range objs {
		if model.IsModel(o) {
			m, err := models[i].m, models[i].err
			if err != nil {
				set.addErrors("model-spec", err)
				continue
			}
			if ns := m.Metadata.Namespace; ns != "" && ns != opts.Namespace {
				set.Diagnostics = append(set.Diagnostics, validation.Diagnostic{Severity: validation.Error, Rule: "wrong-namespace",
					Origin: o.Origin.At("metadata", "namespace"), Object: "Model " + m.Name(),
					Message: fmt.Sprintf("Model is in namespace %s, but the target is %s", ns, opts.Namespace),
					Hint:    "remove metadata.namespace, or run modelsync with -n " + ns})
				continue
			}
			set.Models = append(set.Models, m)
			continue
		}
		if set.placeInNamespace(o, opts.Namespace) {
			raw = append(raw, o)
		}
	}
	set.Diagnostics = append(set.Diagnostics, validation.Shapes(raw)...)
	lock, err := modelfiles.ReadLock(tree.FS, tree.Root)
	if err != nil {
		set.addErrors("model-lock", err)
	}
	set.useFacts(lock)
	out, err := generate.Objects(set.Models, raw, opts.Namespace)
	set.addErrors("model", err)
	set.Objects, set.Contributions = out.Objects, out.Contributions
	set.Autoscaled = workload.LeaveReplicas(set.Objects)
	sortByID(set.Objects)
	set.Diagnostics = append(set.Diagnostics, validation.Validate(validation.Input{
		Objects: set.Objects, Models: set.Models, Contributions: set.Contributions,
		CRDs: opts.CRDs, Served: opts.Served, Lock: lock,
	})...)
	set.Starts = starts(set.Models, lock)
	return set, nil
}

// useFacts fills the sizes each Model leaves out from the facts of its
// files, and warns where a size it sets contradicts them.
func (s *Set) useFacts(lock *modelfiles.Lock) {
	if lock == nil {
		return
	}
	for i := range s.Models {
		m := &s.Models[i]
		if m.Spec.Server == nil || m.Spec.Revision == "" {
			continue
		}
		for _, d := range m.UseFacts(lock.Models[modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)]) {
			s.Diagnostics = append(s.Diagnostics, validation.Diagnostic{Severity: validation.Warning, Rule: "model-facts",
				Origin: m.Origin.At("spec", "server"), Object: "Model " + m.Name(), Message: d,
				Hint: "remove the field to use the files' value, or keep it as a deliberate override"})
		}
	}
}

// starts sizes the Models the lock has facts for.
func starts(models []model.Model, lock *modelfiles.Lock) map[string][]string {
	out := map[string][]string{}
	if lock == nil {
		return out
	}
	for i := range models {
		m := &models[i]
		f := lock.Models[modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)]
		if f == nil || !sizing.Sized(m) {
			continue
		}
		for _, v := range sizing.ForModel(m, f) {
			out[m.Name()] = append(out[m.Name()], v.Verdict())
		}
	}
	return out
}

// clusterScoped are kinds that live outside a namespace. modelsync manages one
// namespace, so these are refused rather than applied cluster-wide.
var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"PriorityClass": true, "StorageClass": true, "PersistentVolume": true, "Node": true, "GatewayClass": true,
}

func (s *Set) placeInNamespace(o manifest.Object, ns string) bool {
	switch {
	case clusterScoped[o.GetKind()]:
		s.Diagnostics = append(s.Diagnostics, validation.Diagnostic{Severity: validation.Error, Rule: "cluster-scoped",
			Origin: o.Origin, Object: o.GetKind() + " " + o.GetName(),
			Message: "cluster-scoped objects are not managed by modelsync, which syncs one namespace",
			Hint:    "apply it once by hand or from the cluster's own configuration, and remove it from models-config"})
		return false
	case o.GetNamespace() == "":
		o.SetNamespace(ns)
	case o.GetNamespace() != ns:
		s.Diagnostics = append(s.Diagnostics, validation.Diagnostic{Severity: validation.Error, Rule: "wrong-namespace",
			Origin: o.Origin, Object: o.GetKind() + " " + o.GetName(),
			Message: fmt.Sprintf("object is in namespace %s, but the target is %s", o.GetNamespace(), ns),
			Hint:    "remove metadata.namespace, or run modelsync with -n " + o.GetNamespace()})
		return false
	}
	return true
}

func (s *Set) addErrors(rule string, err error) {
	for _, e := range flatten(err) {
		d := validation.Diagnostic{Severity: validation.Error, Rule: rule, Message: e.Error()}
		var me *manifest.Error
		var ge *model.Error
		switch {
		case errors.As(e, &me):
			d.Origin, d.Message = me.Origin, me.Msg
		case errors.As(e, &ge):
			d.Origin, d.Object, d.Message, d.Hint = ge.Origin, "Model "+ge.Model, ge.Msg, ge.Hint
		}
		s.Diagnostics = append(s.Diagnostics, d)
	}
}

// flatten unpacks errors.Join trees.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// CRDs reads the CustomResourceDefinitions under dir, as --crds takes them.
func CRDs(ctx context.Context, dir string) ([]manifest.Object, error) {
	objs, err := manifest.Load(ctx, manifest.Dir(dir))
	if err != nil {
		return nil, err
	}
	var crds []manifest.Object
	for _, o := range objs {
		if _, ok := validation.DeclaredKind(o.Unstructured); ok {
			crds = append(crds, o)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s holds no CustomResourceDefinition", dir)
	}
	return crds, nil
}

// sortByID sorts objs by their identity, stably, reading each identity once.
func sortByID(objs []manifest.Object) {
	ids := make([]manifest.ID, len(objs))
	order := make([]int, len(objs))
	for i := range objs {
		ids[i], order[i] = objs[i].ID(), i
	}
	sort.SliceStable(order, func(a, b int) bool { return ids[order[a]].Less(ids[order[b]]) })
	sorted := make([]manifest.Object, len(objs))
	for i, j := range order {
		sorted[i] = objs[j]
	}
	copy(objs, sorted)
}

// decoded is one Model decoded from the tree.
type decoded struct {
	m   model.Model
	err error
}

// decodeModels decodes the Models among objs on every core: at the index
// of each, its Model or why it is none.
func decodeModels(objs []manifest.Object) []decoded {
	out := make([]decoded, len(objs))
	parallel.For(len(objs), func(i int) {
		if model.IsModel(objs[i]) {
			out[i].m, out[i].err = model.Decode(objs[i])
		}
	})
	return out
}
