package kubetest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	gosync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"modelsync.dev/modelsync/gateway"
)

// Backends a route can point at, and the routes: what RefWatch watches.
var (
	refTargets = []schema.GroupVersionResource{
		{Group: "inference.networking.k8s.io", Version: "v1", Resource: "inferencepools"},
		{Group: "inference.networking.x-k8s.io", Version: "v1alpha2", Resource: "inferencepools"},
		{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aiservicebackends"},
	}
	refRoutes = []schema.GroupVersionResource{
		{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
		{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aigatewayroutes"},
	}
)

// RefWatch watches a namespace's routes and the backends and pools they
// point at, and checks, at every change in etcd's order (resourceVersion),
// that no route points at one that does not exist: the invariant "a route
// never dangles", observed at every moment instead of polled at the end.
type RefWatch struct {
	ns     string
	cancel context.CancelFunc
	wg     gosync.WaitGroup
	mu     gosync.Mutex
	events []refEvent
}

type refEvent struct {
	rv     int64
	route  bool
	delete bool
	obj    *unstructured.Unstructured
}

// WatchReferences starts the watch on the package's control plane; Stop
// ends it and reports.
func WatchReferences(t testing.TB, ns string) *RefWatch {
	t.Helper()
	return WatchReferencesAt(t, Config(t), ns)
}

// WatchReferencesAt starts the watch on the API server of cfg.
func WatchReferencesAt(t testing.TB, cfg *rest.Config, ns string) *RefWatch {
	t.Helper()
	w := &RefWatch{ns: ns}
	w.Reconnect(t, cfg)
	return w
}

// Reconnect ends the current watches, keeping what they saw, and watches
// again through cfg: after an API server restart. The new watches list the
// state first, so the replay misses nothing the server stored.
func (w *RefWatch) Reconnect(t testing.TB, cfg *rest.Config) {
	t.Helper()
	w.Disconnect()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	t.Cleanup(cancel)
	for _, gvr := range append(append([]schema.GroupVersionResource{}, refTargets...), refRoutes...) {
		route := gvr.Resource == "httproutes" || gvr.Resource == "aigatewayroutes"
		res := dyn.Resource(gvr).Namespace(w.ns)
		list, err := res.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("watch %s: %v", gvr, err)
		}
		for i := range list.Items {
			w.add(watch.Added, route, &list.Items[i])
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.follow(ctx, res, route, list.GetResourceVersion())
		}()
	}
}

// follow watches res from resourceVersion rv until ctx ends. A watch the
// API server closes (a CRD's versions changed, a timeout) is resumed from
// the last resourceVersion it delivered, so no event between is missed.
func (w *RefWatch) follow(ctx context.Context, res dynamic.ResourceInterface, route bool, rv string) {
	for ctx.Err() == nil {
		wi, err := res.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			time.Sleep(100 * time.Millisecond) // the resource is being served again
			continue
		}
		for ev := range wi.ResultChan() {
			if ev.Type == watch.Error { // too old to resume: list again
				rv = w.relist(ctx, res, route, rv)
				break
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				rv = u.GetResourceVersion()
				w.add(ev.Type, route, u)
			}
		}
		wi.Stop()
	}
}

// relist records res's objects as they are now; rv when it cannot.
func (w *RefWatch) relist(ctx context.Context, res dynamic.ResourceInterface, route bool, rv string) string {
	list, err := res.List(ctx, metav1.ListOptions{})
	if err != nil {
		return rv
	}
	for i := range list.Items {
		w.add(watch.Added, route, &list.Items[i])
	}
	return list.GetResourceVersion()
}

// Disconnect ends the watches, keeping what they saw: before the API
// server is stopped (its shutdown waits for open watches).
func (w *RefWatch) Disconnect() {
	if w.cancel != nil {
		w.cancel()
		w.wg.Wait()
	}
}

func (w *RefWatch) add(t watch.EventType, route bool, u *unstructured.Unstructured) {
	if t != watch.Added && t != watch.Modified && t != watch.Deleted {
		return
	}
	rv, _ := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, refEvent{rv: rv, route: route, delete: t == watch.Deleted, obj: u})
}

// Stop ends the watch (after a moment for the last events to arrive) and
// returns every moment a route pointed at a missing backend or pool.
func (w *RefWatch) Stop() []string {
	time.Sleep(time.Second)
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return dangling(w.events)
}

// dangling replays events in resourceVersion order and reports each route
// reference to a target that does not exist at that moment.
func dangling(events []refEvent) []string {
	sort.SliceStable(events, func(i, j int) bool { return events[i].rv < events[j].rv })
	exists := map[string]bool{}
	routes := map[string][]string{}
	var out []string
	seen := map[string]bool{}
	for _, ev := range events {
		key := ev.obj.GetKind() + "/" + ev.obj.GetName()
		if ev.route {
			if ev.delete {
				delete(routes, key)
			} else {
				routes[key] = routeRefs(ev.obj)
			}
		} else {
			exists[ev.obj.GroupVersionKind().Group+"/"+key] = !ev.delete
		}
		for r, refs := range routes {
			for _, ref := range refs {
				if !exists[ref] && !seen[r+ref] {
					seen[r+ref] = true
					out = append(out, fmt.Sprintf("at resourceVersion %d: %s points at %s, which does not exist", ev.rv, r, ref))
				}
			}
		}
	}
	return out
}

// routeRefs are the group/Kind/name of a route's backendRefs to watched
// kinds (an AIGatewayRoute's default is an AIServiceBackend).
func routeRefs(u *unstructured.Unstructured) []string {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var out []string
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
		for _, b := range refs {
			ref, _ := b.(map[string]any)
			group, _ := ref["group"].(string)
			kind, _ := ref["kind"].(string)
			name, _ := ref["name"].(string)
			if kind == "" && gateway.IsRoute(u) {
				group, kind = gateway.ServiceBackend.Group, gateway.ServiceBackend.Kind
			}
			for _, gvr := range refTargets {
				if gvr.Group == group && (kind == gateway.InferencePool.Kind) == (gvr.Resource == "inferencepools") {
					out = append(out, group+"/"+kind+"/"+name)
					break
				}
			}
		}
	}
	return out
}
