package importer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/tree/modelfiles"
)

// isServer reports whether u runs vLLM or SGLang the way the runbook writes it.
func isServer(u *unstructured.Unstructured) bool {
	if u.GetKind() != "StatefulSet" && u.GetKind() != "Deployment" {
		return false
	}
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		cm, _ := c.(map[string]any)
		args, _, _ := unstructured.NestedStringSlice(cm, "args")
		command, _, _ := unstructured.NestedStringSlice(cm, "command")
		if engine.Of(strings.Join(append(command, args...), " ")) != "" {
			return true
		}
	}
	return false
}

// server is a recognised workload and the gateway objects that reach it.
type server struct {
	sts                    appsv1.StatefulSet
	workload, svc, backend *unstructured.Unstructured
	serviceBackend, route  *unstructured.Unstructured
	rule                   map[string]any
	policy                 *unstructured.Unstructured
}

// fit finds a Model that generates u and its gateway objects exactly, or says
// why there is none.
func (im *importer) fit(ctx context.Context, u *unstructured.Unstructured) (*model.Model, error) {
	if why := unexpressed(u); len(why) > 0 {
		return nil, fmt.Errorf("no Model field expresses %s", strings.Join(why, "; "))
	}
	srv, err := im.find(u)
	if err != nil {
		return nil, err
	}
	m, err := im.guess(ctx, srv)
	if err != nil {
		return nil, err
	}
	// Generate, and take from the object what the fields derive differently.
	gen, err := im.generate(m, srv)
	if err != nil {
		return nil, err
	}
	want := srv.sts.Spec.Template.Spec
	got := gen.Spec.Template.Spec
	if got.Containers[0].Args[0] != want.Containers[0].Args[0] {
		m.Spec.Server.CommandLine = want.Containers[0].Args[0]
		m.Spec.Server.PreStart, m.Spec.Server.Args = "", nil
	}
	if mounts := want.Containers[0].VolumeMounts; len(mounts) == 2 && mounts[0].MountPath != model.ShmPath {
		m.Spec.Server.Mounts = []string{model.MountCache, model.MountShm}
	}
	if !cmp.Equal(got.Tolerations, want.Tolerations) {
		m.Spec.Server.Overrides.Tolerations = want.Tolerations
	}
	if err := im.verify(ctx, m, srv); err != nil {
		return nil, err
	}
	if m.Spec.Revision != "" && im.res.Lock.Models[modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)] != nil {
		// Pinned and locked: the lock gives these back, as it gave them.
		s := m.Spec.Server
		s.WeightsGi, s.ParamsB, s.AttentionHeads, s.KVHeads, s.MLA = 0, 0, 0, 0, false
	}
	for _, o := range []*unstructured.Unstructured{srv.workload, srv.svc, srv.backend, srv.serviceBackend} {
		im.taken[o] = true
	}
	removeItem(srv.route, gateway.RuleKey(srv.rule))
	if srv.policy != nil {
		removeItem(srv.policy, targetKey(srv.serviceBackend.GetName()))
	}
	return m, nil
}

// removeItem drops the keyed entry from a shared object.
func removeItem(u *unstructured.Unstructured, key string) {
	_ = gateway.SetItems(u, slices.DeleteFunc(gateway.Items(u), func(it gateway.Item) bool { return it.Key == key }))
}

// targetKey is a policy's targetRef key for the AIServiceBackend name.
func targetKey(name string) string {
	return gateway.TargetRefKey(gateway.RefTo(gateway.ServiceBackend, name))
}
