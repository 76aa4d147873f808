package gateway

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/tree/manifest"
)

// The kinds modelsync writes, merges entries into, or follows references
// through, by API group: code outside this package names them only so.
var (
	Route          = schema.GroupKind{Group: AIGatewayGroup, Kind: "AIGatewayRoute"}
	ServiceBackend = schema.GroupKind{Group: AIGatewayGroup, Kind: "AIServiceBackend"}
	SecurityPolicy = schema.GroupKind{Group: AIGatewayGroup, Kind: "BackendSecurityPolicy"}
	Backend        = schema.GroupKind{Group: EnvoyGatewayGroup, Kind: "Backend"}
	TrafficPolicy  = schema.GroupKind{Group: EnvoyGatewayGroup, Kind: "BackendTrafficPolicy"}
	HTTPRoute      = schema.GroupKind{Group: GatewayAPIGroup, Kind: "HTTPRoute"}
	InferencePool  = schema.GroupKind{Group: PoolGroup, Kind: "InferencePool"}
)

// Is tells whether u is of group-kind gk (by its apiVersion's group, not
// its kind alone: another API's Backend is not Envoy Gateway's).
func Is(u interface {
	GetKind() string
	GetAPIVersion() string
}, gk schema.GroupKind) bool {
	if u.GetKind() != gk.Kind {
		return false
	}
	group, _, found := strings.Cut(u.GetAPIVersion(), "/")
	if !found {
		group = "" // the core group's apiVersion is "v1"
	}
	return group == gk.Group
}

// IsRoute tells an AIGatewayRoute.
func IsRoute(u interface {
	GetKind() string
	GetAPIVersion() string
}) bool {
	return Is(u, Route)
}

// ID names the object of group-kind gk called name in ns.
func ID(gk schema.GroupKind, ns, name string) manifest.ID {
	return manifest.ID{Group: gk.Group, Kind: gk.Kind, Namespace: ns, Name: name}
}

// RefTo is a reference entry (a targetRef, a backendRef) to the object of
// group-kind gk called name.
func RefTo(gk schema.GroupKind, name string) map[string]any {
	return map[string]any{"group": gk.Group, "kind": gk.Kind, "name": name}
}

// applyOrder ranks kinds so that what is pointed at exists before what points
// at it: storage, config and identities, Services, workloads, Backends,
// AIServiceBackends, security policies, routes, then traffic policies.
var applyOrder = map[string]int{
	"ConfigMap": 0, "Secret": 0, "PersistentVolumeClaim": 0, "ServiceAccount": 0, "Role": 0,
	"Service": 1, "RoleBinding": 1,
	"StatefulSet": 2, "Deployment": 2,
	Backend.Kind:        3,
	ServiceBackend.Kind: 4,
	SecurityPolicy.Kind: 5,
	Route.Kind:          6,
	TrafficPolicy.Kind:  7, "SecurityPolicy": 7, "ClientTrafficPolicy": 7,
}

// unknownKindRank places a kind the table does not know beside the
// workloads, until its references say otherwise.
const unknownKindRank = 2

// ApplyRank is kind's place in the apply order; sync refines it with the
// references of the objects at hand, and prune walks it backwards.
func ApplyRank(kind string) int {
	if r, ok := applyOrder[kind]; ok {
		return r
	}
	return unknownKindRank
}
