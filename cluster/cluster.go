// Package cluster is the connection to one API server: typed, dynamic and
// discovery clients sharing one rest.Config with raised rate limits, and a
// REST mapper. Reader is the view that can read and dry-run but not write;
// Operation counts one operation's requests and collects its warnings.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Client rate limits, far above client-go's 5 QPS / 10 burst: a plan sends one
// dry-run request per desired object.
const (
	DefaultQPS   = 1000
	DefaultBurst = 2000
)

// Clients talk to one API server.
type Clients struct {
	Config  *rest.Config
	Dynamic dynamic.Interface
	Core    kubernetes.Interface
	// Metadata lists objects as their metadata only, in protobuf.
	Metadata metadata.Interface
	Mapper   meta.RESTMapper
}

// New builds the clients from cfg (which is copied, not changed).
func New(cfg *rest.Config) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	cfg.WarningHandlerWithContext = warningHandler{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if op, ok := r.Context().Value(operationKey{}).(*Operation); ok {
				op.requests.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	c := &Clients{Config: cfg}
	var err error
	if c.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	// Typed objects travel as protobuf: a third of JSON's bytes, decoded
	// without reflection. The dynamic clients stay JSON, which keeps every
	// field the server sends.
	typed := rest.CopyConfig(cfg)
	typed.ContentType = runtime.ContentTypeProtobuf
	typed.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	core, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.Core = core
	if c.Metadata, err = metadata.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	c.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(core.Discovery()))
	return c, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Resource is the dynamic client of gvk's resource in namespace; an empty
// version is the server's preferred one. A kind the server does not serve
// is an error meta.IsNoMatchError recognizes.
func (c *Clients) Resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	var versions []string
	if gvk.Version != "" {
		versions = []string{gvk.Version}
	}
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), versions...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk.GroupKind(), err)
	}
	return c.Dynamic.Resource(m.Resource).Namespace(namespace), nil
}

// ApplyOptions are the options of every server-side apply modelsync sends.
type ApplyOptions struct {
	FieldManager string
	// Force takes fields other managers own.
	Force bool
	// DryRun asks the API server what it would store, storing nothing.
	DryRun bool
}

// Apply server-side applies u with strict field validation; a
// resourceVersion in u is a precondition. It returns the object as the API
// server stored it, or would have.
func (c *Clients) Apply(ctx context.Context, u *unstructured.Unstructured, opts ApplyOptions) (*unstructured.Unstructured, error) {
	res, err := c.Resource(u.GroupVersionKind(), u.GetNamespace())
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	force := opts.Force
	po := metav1.PatchOptions{FieldManager: opts.FieldManager, Force: &force, FieldValidation: "Strict"}
	if opts.DryRun {
		po.DryRun = []string{metav1.DryRunAll}
	}
	return res.Patch(ctx, u.GetName(), types.ApplyPatchType, data, po)
}

// Reader is the view of the API server that planning gets: it reads and
// dry-runs, and has no method that writes.
type Reader struct{ c *Clients }

// Reader returns the read-only view of c.
func (c *Clients) Reader() Reader { return Reader{c: c} }

// Get reads one object; an empty version is the server's preferred one.
func (r Reader) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	res, err := r.c.Resource(gvk, namespace)
	if err != nil {
		return nil, err
	}
	return res.Get(ctx, name, metav1.GetOptions{})
}

// List lists gvk's objects in namespace that match selector.
func (r Reader) List(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) ([]unstructured.Unstructured, error) {
	res, err := r.c.Resource(gvk, namespace)
	if err != nil {
		return nil, err
	}
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Preferred is gk at the version the server prefers.
func (r Reader) Preferred(gk schema.GroupKind) (schema.GroupVersionKind, error) {
	m, err := r.c.Mapper.RESTMapping(gk)
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("%s: %w", gk, err)
	}
	return m.GroupVersionKind, nil
}

// ListMetadata lists gvk's objects in namespace that match selector by their
// metadata only (uid, resourceVersion, labels, …), in protobuf: a fraction
// of a whole LIST's bytes, and no spec to decode. Each comes back as an
// Unstructured of gvk's apiVersion and kind holding nothing but metadata,
// and that without managedFields.
func (r Reader) ListMetadata(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) ([]unstructured.Unstructured, error) {
	var versions []string
	if gvk.Version != "" {
		versions = []string{gvk.Version}
	}
	m, err := r.c.Mapper.RESTMapping(gvk.GroupKind(), versions...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk.GroupKind(), err)
	}
	list, err := r.c.Metadata.Resource(m.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	apiVersion := m.GroupVersionKind.GroupVersion().String()
	out := make([]unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		meta := list.Items[i].ObjectMeta
		meta.ManagedFields = nil
		md, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&meta)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk.Kind, list.Items[i].Name, err)
		}
		out[i].Object = map[string]any{"apiVersion": apiVersion, "kind": m.GroupVersionKind.Kind, "metadata": md}
	}
	return out, nil
}

// ListClaims lists the PersistentVolumeClaims in namespace.
func (r Reader) ListClaims(ctx context.Context, namespace string) ([]corev1.PersistentVolumeClaim, error) {
	list, err := r.c.Core.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// DryRunApply is Apply with DryRun set: the object as the API server would
// store it.
func (r Reader) DryRunApply(ctx context.Context, u *unstructured.Unstructured, fieldManager string, force bool) (*unstructured.Unstructured, error) {
	return r.c.Apply(ctx, u, ApplyOptions{FieldManager: fieldManager, Force: force, DryRun: true})
}

// Operation counts the requests made with one context and collects the
// warnings the API server sent back about them, so that two operations on
// the same clients never mix their figures.
type Operation struct {
	requests atomic.Int64
	mu       sync.Mutex
	warnings map[string]bool
}

type operationKey struct{}

// Track starts an operation: requests made with the returned context count
// toward it.
func Track(ctx context.Context) (context.Context, *Operation) {
	op := &Operation{}
	return context.WithValue(ctx, operationKey{}, op), op
}

// Join makes requests made with the returned context count toward o.
func Join(ctx context.Context, o *Operation) context.Context {
	return context.WithValue(ctx, operationKey{}, o)
}

// Requests is the number of HTTP requests the operation sent so far.
func (o *Operation) Requests() int64 { return o.requests.Load() }

// Warnings are the API server's warnings to the operation, deduplicated and
// sorted, each prefixed by the object it concerned when the request said so.
func (o *Operation) Warnings() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.warnings))
	for t := range o.warnings {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

type subjectKey struct{}

// WithSubject marks ctx so warnings returned by requests made with it name subject.
func WithSubject(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, subjectKey{}, subject)
}

type warningHandler struct{}

func (warningHandler) HandleWarningHeaderWithContext(ctx context.Context, _ int, _ string, text string) {
	op, ok := ctx.Value(operationKey{}).(*Operation)
	if !ok {
		return
	}
	if s, ok := ctx.Value(subjectKey{}).(string); ok {
		text = s + ": " + text
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.warnings == nil {
		op.warnings = map[string]bool{}
	}
	op.warnings[text] = true
}

// IsUnreachable tells a request that did not get an answer (the connection
// refused, reset or timed out) or an overloaded server (retry later) from
// everything else: a request the API server refused (fix the object), a
// cancelled run, a bug.
func IsUnreachable(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// DryRunCreate is the object u would be if created now under its name: the
// API server's defaults and validation, merged with nothing that exists.
func (r Reader) DryRunCreate(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	res, err := r.c.Resource(u.GroupVersionKind(), u.GetNamespace())
	if err != nil {
		return nil, err
	}
	return res.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// ServedKinds lists the kinds the API server serves, as group/kind, with the
// preferred version of each and whether it lives in a namespace.
func (r Reader) ServedKinds() ([]ServedKind, error) {
	lists, err := r.c.Core.Discovery().ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var out []ServedKind
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") {
				continue // a subresource
			}
			out = append(out, ServedKind{
				GroupVersionKind: gv.WithKind(res.Kind), Namespaced: res.Namespaced,
				Listable: slices.Contains(res.Verbs, "list") && slices.Contains(res.Verbs, "patch"),
			})
		}
	}
	return out, nil
}

// ServedKind is one kind discovery lists.
type ServedKind struct {
	schema.GroupVersionKind
	Namespaced bool
	// Listable kinds can be listed and patched: stored objects, not reviews.
	Listable bool
}
