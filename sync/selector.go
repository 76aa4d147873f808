package sync

import (
	"context"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

// held is an object that moves traffic to pods this sync creates or rolls:
// a Service whose selector moves (a Model switched to variants renames its
// StatefulSet), or an AIGatewayRoute whose rule moves to a backend this
// sync creates (a renamed Model keeps its served name). Written at once it
// would leave the pods serving now for pods not ready yet; it is written
// once the workloads it will reach are ready, so the old pods, which stay
// until the approved prune, serve until then.
type held struct {
	service   diff.Prediction
	workloads []*unstructured.Unstructured
}

// holdSelectors takes such objects out of writes.
func holdSelectors(writes []diff.Prediction) ([]diff.Prediction, []held) {
	var rest []diff.Prediction
	var out []held
	for _, p := range writes {
		if h, ok := movedSelector(p, writes); ok {
			out = append(out, h)
			continue
		}
		if h, ok := movedRules(p, writes); ok {
			out = append(out, h)
			continue
		}
		rest = append(rest, p)
	}
	return rest, out
}

// movedRules holds a route whose existing rule moves to a backend this sync
// creates, until the workloads behind that backend are ready.
func movedRules(p diff.Prediction, writes []diff.Prediction) (held, bool) {
	if p.Object.GroupVersionKind().GroupKind() != gateway.Route || p.Live == nil {
		return held{}, false
	}
	before := map[string]map[manifest.ID]bool{}
	for _, r := range gateway.Refs(p.Live) {
		if before[r.Entry] == nil {
			before[r.Entry] = map[manifest.ID]bool{}
		}
		before[r.Entry][r.ID] = true
	}
	byID := map[manifest.ID]diff.Prediction{}
	for _, w := range writes {
		byID[w.Object.ID()] = w
	}
	h := held{service: p}
	for _, r := range gateway.Refs(p.Applied) {
		old, existed := before[r.Entry]
		if w, created := byID[r.ID]; existed && !old[r.ID] && created && w.Live == nil {
			h.workloads = append(h.workloads, servingWorkloads(r.ID, byID, writes)...)
		}
	}
	return h, len(h.workloads) > 0
}

// servingWorkloads follows id along the serving path through writes
// (AIServiceBackend → Backend → Service) to the workloads the Service
// selects.
func servingWorkloads(id manifest.ID, byID map[manifest.ID]diff.Prediction, writes []diff.Prediction) []*unstructured.Unstructured {
	for range 4 {
		w, ok := byID[id]
		if !ok {
			return nil
		}
		if w.Object.GetKind() == "Service" {
			selector, _, _ := unstructured.NestedStringMap(w.Applied.Object, "spec", "selector")
			var out []*unstructured.Unstructured
			sel := labels.SelectorFromSet(selector)
			for _, x := range writes {
				if podLabels, ok := workload.ServingLabels(x.Applied); ok && len(selector) > 0 && sel.Matches(labels.Set(podLabels)) {
					out = append(out, x.Applied)
				}
			}
			return out
		}
		refs := gateway.Refs(w.Applied)
		if len(refs) == 0 {
			return nil
		}
		id = refs[0].ID
	}
	return nil
}

func movedSelector(p diff.Prediction, writes []diff.Prediction) (held, bool) {
	if p.Object.GetKind() != "Service" || p.Live == nil {
		return held{}, false
	}
	before, _, _ := unstructured.NestedStringMap(p.Live.Object, "spec", "selector")
	after, _, _ := unstructured.NestedStringMap(p.Applied.Object, "spec", "selector")
	if len(after) == 0 || maps.Equal(before, after) {
		return held{}, false
	}
	h := held{service: p}
	sel := labels.SelectorFromSet(after)
	for _, w := range writes {
		if podLabels, ok := workload.ServingLabels(w.Applied); ok && sel.Matches(labels.Set(podLabels)) {
			h.workloads = append(h.workloads, w.Applied)
		}
	}
	return h, len(h.workloads) > 0
}

// moveSelector waits until the workloads a held Service will select are
// ready, then writes it.
func (m *Manager) moveSelector(ctx context.Context, h held, opts Options) Applied {
	if err := m.waitReady(ctx, h.workloads); err != nil {
		return Applied{Change: h.service.Change, Err: fmt.Errorf("%s: not moved to pods that are not ready, the old pods keep serving: %w", h.service.Object.ID(), err)}
	}
	if err := opts.Fence.Hold(ctx); err != nil {
		return Applied{Change: h.service.Change, Err: err}
	}
	return m.applyOne(ctx, h.service, opts.Fence)
}
