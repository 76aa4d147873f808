package sync

import (
	"context"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/workload"
)

// held is a Service whose selector moves to pods this sync creates or
// rolls: written at once it would leave the pods serving now for pods not
// ready yet (a Model switched to variants renames its StatefulSet). It is
// written once the workloads it will select are ready, so the old pods,
// which stay until the approved prune, serve until then.
type held struct {
	service   diff.Prediction
	workloads []*unstructured.Unstructured
}

// holdSelectors takes such Services out of writes.
func holdSelectors(writes []diff.Prediction) ([]diff.Prediction, []held) {
	var rest []diff.Prediction
	var out []held
	for _, p := range writes {
		if h, ok := movedSelector(p, writes); ok {
			out = append(out, h)
			continue
		}
		rest = append(rest, p)
	}
	return rest, out
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
