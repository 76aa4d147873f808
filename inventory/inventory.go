package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/buildinfo"
)

// LeaseName is the coordination.k8s.io Lease that runs against the
// inventory name take turns on.
func LeaseName(name string) string { return name + "-lock" }

// ApplyEntry is modelsync's server-side apply entry in u's managedFields
// (outside the status subresource): the fields modelsync applied, and the
// apiVersion it applied them in. A member without one was never applied by
// modelsync.
func ApplyEntry(u *unstructured.Unstructured) (metav1.ManagedFieldsEntry, bool) {
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			return mf, true
		}
	}
	return metav1.ManagedFieldsEntry{}, false
}

// Tooling is this build's tooling annotation value.
func Tooling() string { return "modelsync/" + buildinfo.Version() }

// ID is the ApplySet id of a parent Secret: applyset-<base64url(sha256(<name>.<namespace>.Secret.))>-v1.
func ID(name, namespace string) string {
	sum := sha256.Sum256([]byte(name + "." + namespace + ".Secret."))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// ErrForeignParent is returned when the parent belongs to another tool.
var ErrForeignParent = errors.New("ApplySet parent belongs to another tool")

// Parent is the live state of the inventory's parent Secret.
type Parent struct {
	Exists     bool
	GroupKinds []schema.GroupKind
	Revision   string
	SyncedAt   string
	// Tree is the tree the namespace is synced from (AnnotationTree).
	Tree string
	// Began is the commit of the last sync that began (AnnotationBegan).
	Began string
	// Rollbacks counts the syncs to an older commit (AnnotationRollbacks).
	Rollbacks int
	// Verified maps the uid of each member the last sync left as its tree asks
	// to a fingerprint of the configuration applied and of the object as it
	// then was (diff.Fingerprint). A diff trusts an object whose fingerprint
	// still matches without a dry run. Kept in the parent's data (DataVerified).
	Verified map[string]string
	// Distrusted says why the record was ignored (Verified is then nil):
	// a manager other than modelsync wrote the parent's data, and could have
	// written fingerprints that hide drift.
	Distrusted string
	// Secrets are the names of the set's Secrets (AnnotationSecrets).
	Secrets []string
	// Fence is the writing run's fence token, written with the parent so
	// that the fence policy refuses the record of a run that lost its
	// Lease; empty for a run that holds none.
	Fence string
}

// Inventory reads one namespace's ApplySet; Update, given clients that
// write, updates its parent.
type Inventory struct {
	read      cluster.Reader
	Namespace string
	Name      string
}

// New returns the inventory of the parent Secret name in namespace, read
// through r.
func New(r cluster.Reader, namespace, name string) *Inventory {
	return &Inventory{read: r, Namespace: namespace, Name: name}
}

var secretKind = corev1.SchemeGroupVersion.WithKind("Secret")

// ID is this inventory's ApplySet id.
func (inv *Inventory) ID() string { return ID(inv.Name, inv.Namespace) }

func (inv *Inventory) String() string { return "Secret " + inv.Namespace + "/" + inv.Name }

// Parent reads the parent Secret. A missing parent is an empty inventory.
func (inv *Inventory) Parent(ctx context.Context) (Parent, error) {
	u, err := inv.read.Get(ctx, secretKind, inv.Namespace, inv.Name)
	if apierrors.IsNotFound(err) {
		return Parent{}, nil
	}
	if err != nil {
		return Parent{}, fmt.Errorf("read inventory %s: %w", inv, err)
	}
	s := &corev1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
		return Parent{}, fmt.Errorf("read inventory %s: %w", inv, err)
	}
	tooling := s.Annotations[AnnotationTooling]
	if s.Labels[LabelID] != inv.ID() || !strings.HasPrefix(tooling, "modelsync/") {
		if tooling == "" {
			tooling = "no ApplySet tooling"
		}
		return Parent{}, fmt.Errorf("%w: %s is managed by %q; choose another inventory name, or remove it if it is stale", ErrForeignParent, inv, tooling)
	}
	p := Parent{
		Exists:     true,
		GroupKinds: ParseGroupKinds(s.Annotations[AnnotationGroupKinds]),
		Revision:   s.Annotations[AnnotationRevision],
		SyncedAt:   s.Annotations[AnnotationSyncedAt],
		Tree:       s.Annotations[AnnotationTree],
		Began:      s.Annotations[AnnotationBegan],
		Distrusted: dataWriter(s),
	}
	if names := s.Annotations[AnnotationSecrets]; names != "" {
		p.Secrets = strings.Split(names, ",")
	}
	if p.Distrusted == "" {
		p.Verified = decodeVerified(s.Data[DataVerified])
	}
	if n := s.Annotations[AnnotationRollbacks]; n != "" {
		if p.Rollbacks, err = strconv.Atoi(n); err != nil || p.Rollbacks < 0 {
			return Parent{}, fmt.Errorf("read inventory %s: annotation %s=%q is not a count", inv, AnnotationRollbacks, n)
		}
	}
	return p, nil
}

// dataWriter names a manager other than modelsync's apply that owns a field
// of the parent's data, "" when there is none.
func dataWriter(s *corev1.Secret) string {
	for _, mf := range s.ManagedFields {
		if mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply {
			continue
		}
		if mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:data"`) {
			return fmt.Sprintf("the data of %s was written by %s (%s)", "inventory Secret "+s.Namespace+"/"+s.Name, mf.Manager, mf.Operation)
		}
	}
	return ""
}

// ParseGroupKinds reads the contains-group-kinds annotation: Kind.group,Kind.group.
func ParseGroupKinds(v string) []schema.GroupKind {
	var out []schema.GroupKind
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, schema.ParseGroupKind(s))
		}
	}
	return out
}

// FormatGroupKinds writes the annotation value, sorted.
func FormatGroupKinds(gks []schema.GroupKind) string {
	seen := map[string]bool{}
	var out []string
	for _, gk := range gks {
		if s := gk.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Update writes the parent: its group-kinds, and the revision and time of the
// last completed sync (omitted when empty), and the Verified record (removed
// when empty). Widen the group-kinds before
// applying (the union of old and new), shrink them only after pruning
// succeeded.
func (inv *Inventory) Update(ctx context.Context, c *cluster.Clients, p Parent) error {
	ann := map[string]string{AnnotationTooling: Tooling(), AnnotationGroupKinds: FormatGroupKinds(p.GroupKinds)}
	if p.Revision != "" {
		ann[AnnotationRevision] = p.Revision
	}
	if p.SyncedAt != "" {
		ann[AnnotationSyncedAt] = p.SyncedAt
	}
	if p.Tree != "" {
		ann[AnnotationTree] = p.Tree
	}
	if p.Began != "" {
		ann[AnnotationBegan] = p.Began
	}
	if p.Rollbacks > 0 {
		ann[AnnotationRollbacks] = strconv.Itoa(p.Rollbacks)
	}
	if p.Fence != "" {
		ann[AnnotationFence] = p.Fence
	}
	if len(p.Secrets) > 0 {
		ann[AnnotationSecrets] = strings.Join(SecretNames(p.Secrets), ",")
	}
	cfg := applycorev1.Secret(inv.Name, inv.Namespace).
		WithLabels(map[string]string{LabelID: inv.ID()}).
		WithAnnotations(ann).
		WithType(corev1.SecretTypeOpaque)
	if data := encodeVerified(p.Verified); data != nil {
		cfg.WithData(map[string][]byte{DataVerified: data})
	}
	if _, err := c.Core.CoreV1().Secrets(inv.Namespace).Apply(ctx, cfg, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("update inventory %s: %w", inv, err)
	}
	return nil
}

// Now is the synced-at value for the current time.
func Now() string { return time.Now().UTC().Format(time.RFC3339) }

// Members lists the live objects labeled as part of the set, one LIST per
// group-kind, at most limit at a time. Each group-kind is listed once, at the
// version of its first entry in kinds (the server's preferred version when
// that is empty), so members come back in the version the tree writes them in
// and the API server's deprecation warnings for that version are heard.
// Group-kinds the server does not serve (a CRD removed) are skipped.
//
// Secrets are not listed but read by name, secrets being the names of the
// tree's Secrets and of the parent's (Parent.Secrets): an identity then
// needs to read exactly those, and no other Secret of the namespace.
func (inv *Inventory) Members(ctx context.Context, kinds []schema.GroupVersionKind, secrets []string, limit int) ([]unstructured.Unstructured, error) {
	return inv.list(ctx, kinds, limit, func(ctx context.Context, gvk schema.GroupVersionKind) ([]unstructured.Unstructured, error) {
		if gvk.GroupKind() == secretKind.GroupKind() {
			return inv.secrets(ctx, secrets)
		}
		return inv.read.List(ctx, gvk, inv.Namespace, LabelPartOf+"="+inv.ID())
	})
}

// Heads lists the members of kinds as Members does, by their metadata only
// (cluster.Reader.ListMetadata): what a plan reads first of the kinds whose
// members the last sync's record may vouch for by their resourceVersion,
// before it reads whole those it must look at. Secrets are not listed.
func (inv *Inventory) Heads(ctx context.Context, kinds []schema.GroupVersionKind, limit int) ([]unstructured.Unstructured, error) {
	return inv.list(ctx, kinds, limit, func(ctx context.Context, gvk schema.GroupVersionKind) ([]unstructured.Unstructured, error) {
		if gvk.GroupKind() == secretKind.GroupKind() {
			return nil, nil
		}
		return inv.read.ListMetadata(ctx, gvk, inv.Namespace, LabelPartOf+"="+inv.ID())
	})
}

// list calls one list per group-kind of kinds, at most limit at a time, and
// joins what they return; group-kinds the server does not serve are skipped.
func (inv *Inventory) list(ctx context.Context, kinds []schema.GroupVersionKind, limit int, list func(context.Context, schema.GroupVersionKind) ([]unstructured.Unstructured, error)) ([]unstructured.Unstructured, error) {
	kinds = unique(kinds)
	results := make([][]unstructured.Unstructured, len(kinds))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, gvk := range kinds {
		g.Go(func() error {
			items, err := list(ctx, gvk)
			switch {
			case meta.IsNoMatchError(err):
				return nil
			case err != nil && gvk.GroupKind() == secretKind.GroupKind():
				return err
			case err != nil:
				return fmt.Errorf("list %s in %s: %w", gvk.GroupKind(), inv.Namespace, err)
			}
			results[i] = items
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []unstructured.Unstructured
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// secrets reads the named Secrets that are members of the set.
func (inv *Inventory) secrets(ctx context.Context, names []string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	for _, n := range SecretNames(names) {
		if n == inv.Name {
			continue
		}
		u, err := inv.read.Get(ctx, secretKind, inv.Namespace, n)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("read Secret %s/%s: %w", inv.Namespace, n, err)
		}
		if u.GetLabels()[LabelPartOf] == inv.ID() {
			out = append(out, *u)
		}
	}
	return out, nil
}

// SecretNames sorts names and drops repeats and empty ones.
func SecretNames(names []string) []string {
	out := slices.Sorted(slices.Values(names))
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

// Kinds turns group-kinds into Members' argument: each at the preferred version.
func Kinds(gks []schema.GroupKind) []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, len(gks))
	for i, gk := range gks {
		out[i] = gk.WithVersion("")
	}
	return out
}

// unique keeps the first entry of each group-kind.
func unique(kinds []schema.GroupVersionKind) []schema.GroupVersionKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupVersionKind
	for _, k := range kinds {
		if !seen[k.GroupKind()] {
			seen[k.GroupKind()] = true
			out = append(out, k)
		}
	}
	return out
}
