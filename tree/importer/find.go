package importer

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/model"
)

// find collects the objects that serve u: its Service (same name, selecting
// its pods), the Backend pointing at the Service, the AIServiceBackend of that
// Backend, the route rule that sends to it alone, and the API key policy.
func (im *importer) find(u *unstructured.Unstructured) (*server, error) {
	srv := &server{workload: u}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &srv.sts); err != nil {
		return nil, err
	}
	name := u.GetName()
	for _, s := range im.objectsOf(schema.GroupKind{Kind: "Service"}) {
		sel, _, _ := unstructured.NestedStringMap(s.Object, "spec", "selector")
		if s.GetName() == name && sel[model.LabelApp] == name && len(sel) == 1 {
			srv.svc = s
		}
	}
	if srv.svc == nil {
		return nil, fmt.Errorf("no Service named %s selects app=%s; a Model generates both", name, name)
	}
	host := name + "." + im.ns + ".svc.cluster.local"
	for _, b := range im.objectsOf(gateway.Backend) {
		eps, _, _ := unstructured.NestedSlice(b.Object, "spec", "endpoints")
		if len(eps) != 1 {
			continue
		}
		h, _, _ := unstructured.NestedString(eps[0].(map[string]any), "fqdn", "hostname")
		p, _, _ := unstructured.NestedInt64(eps[0].(map[string]any), "fqdn", "port")
		if h == host && p == model.ServerPort {
			srv.backend = b
		}
	}
	if srv.backend == nil {
		return nil, fmt.Errorf("no Backend points at %s:%d", host, model.ServerPort)
	}
	for _, a := range im.objectsOf(gateway.ServiceBackend) {
		ref, _, _ := unstructured.NestedString(a.Object, "spec", "backendRef", "name")
		if a.GetName() == srv.backend.GetName() && ref == srv.backend.GetName() {
			srv.serviceBackend = a
		}
	}
	if srv.serviceBackend == nil {
		return nil, fmt.Errorf("no AIServiceBackend named %s uses Backend %s; a Model generates both under one name", srv.backend.GetName(), srv.backend.GetName())
	}
	for _, r := range im.objectsOf(gateway.Route) {
		for _, it := range gateway.Items(r) {
			refs, _ := it.Value["backendRefs"].([]any)
			if len(refs) != 1 {
				continue
			}
			if ref, _ := refs[0].(map[string]any); ref["name"] == srv.serviceBackend.GetName() {
				if srv.rule != nil {
					return nil, fmt.Errorf("two rules send to AIServiceBackend %s alone (%s, %s); a Model has one", srv.serviceBackend.GetName(), gateway.RuleKey(srv.rule), it.Key)
				}
				srv.route, srv.rule = r, it.Value
			}
		}
	}
	if srv.rule == nil {
		return nil, fmt.Errorf("no AIGatewayRoute rule sends to AIServiceBackend %s alone", srv.serviceBackend.GetName())
	}
	policy, err := im.policyOf(srv.serviceBackend.GetName())
	if err != nil {
		return nil, err
	}
	srv.policy = policy
	return srv, nil
}
