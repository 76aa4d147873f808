// Package cluster is the connection to one API server: typed, dynamic and
// discovery clients sharing one rest.Config with raised rate limits, a REST
// mapper, a count of the requests made, and the API server's warnings.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
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
	Mapper  meta.RESTMapper

	requests atomic.Int64
	warnings *warnings
}

// New builds the clients from cfg (which is copied, not changed).
func New(cfg *rest.Config) (*Clients, error) {
	c := &Clients{warnings: &warnings{}}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	cfg.WarningHandlerWithContext = c.warnings
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			c.requests.Add(1)
			return rt.RoundTrip(r)
		})
	})
	c.Config = cfg
	var err error
	if c.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.Core = core
	c.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(core.Discovery()))
	return c, nil
}

// Requests is the number of HTTP requests sent so far.
func (c *Clients) Requests() int64 { return c.requests.Load() }

// TakeWarnings returns the API server's warnings since the last call,
// deduplicated and sorted, each prefixed by the object it concerned when the
// request said so.
func (c *Clients) TakeWarnings() []string { return c.warnings.take() }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type subjectKey struct{}

// WithSubject marks ctx so warnings returned by requests made with it name subject.
func WithSubject(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, subjectKey{}, subject)
}

type warnings struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (w *warnings) HandleWarningHeaderWithContext(ctx context.Context, _ int, _ string, text string) {
	if s, ok := ctx.Value(subjectKey{}).(string); ok {
		text = s + ": " + text
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[text] = true
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.seen))
	for t := range w.seen {
		out = append(out, t)
	}
	w.seen = nil
	sort.Strings(out)
	return out
}

// Resource is the dynamic client of gvk's resource in namespace.
func (c *Clients) Resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk.GroupKind(), err)
	}
	return c.Dynamic.Resource(m.Resource).Namespace(namespace), nil
}

// IsUnreachable tells a broken connection or an overloaded server (retry
// later) from a request the API server refused (fix the object).
func IsUnreachable(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
	}
	return err != nil
}
