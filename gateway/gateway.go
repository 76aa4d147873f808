// Package gateway holds what modelsync knows about the Envoy AI Gateway and
// Envoy Gateway objects it manages (Envoy AI Gateway v1.1.0, Envoy Gateway v1.8.1): their API
// groups, the keyed lists inside shared objects (a route's rules, a policy's
// targetRefs) and their limits, the route-group annotation, the header
// routes match on, and which object points at which. The generator,
// validation, diff and prune all read it from here.
package gateway

// API groups and versions.
const (
	AIGatewayGroup      = "aigateway.envoyproxy.io"
	AIGatewayAPIVersion = AIGatewayGroup + "/v1beta1"
	EnvoyGatewayGroup   = "gateway.envoyproxy.io"
	EnvoyGatewayVersion = EnvoyGatewayGroup + "/v1alpha1"
	GatewayAPIGroup     = "gateway.networking.k8s.io"
	// PoolGroup is the Gateway API Inference Extension's v1 group, the only
	// one an AIGatewayRoute rule may send to.
	PoolGroup      = "inference.networking.k8s.io"
	PoolAPIVersion = PoolGroup + "/v1"
)

// ModelHeader is the header the AI Gateway routes on; a rule matches it on
// the model name clients ask for.
const ModelHeader = "x-ai-eg-model"

// Limits the API server or the generated HTTPRoute impose.
const (
	// MaxRouteRules is AIGatewayRoute.spec.rules maxItems in AI Gateway v1.1
	// (the controller adds a 16th catch-all rule to the generated HTTPRoute).
	MaxRouteRules = 15
	// MaxBackendRefsPerRule is the generated HTTPRoute's limit per rule,
	// which the AIGatewayRoute itself does not check.
	MaxBackendRefsPerRule = 16
	// MaxPolicyTargetRefs is BackendSecurityPolicy.spec.targetRefs maxItems.
	MaxPolicyTargetRefs = 16
)

// AnnotationGroup marks the objects that share one list of entries: the
// shards of one route group (MaxRouteRules each) carry the name of the
// hand-written route they copy. An entry leaving one object of a group for
// another is a move (applied at once, the receiving object first), not a
// removal that awaits an approved prune.
const AnnotationGroup = "modelsync.dev/route-group"

// What one entry of a keyed list is called in plans.
const (
	NounRule      = "rule"
	NounTargetRef = "targetRef"
)

// Kinds are the kinds of the gateway CRDs modelsync knows, by API group.
var Kinds = map[string][]string{
	AIGatewayGroup:                  {"AIGatewayRoute", "AIServiceBackend", "BackendSecurityPolicy", "GatewayConfig", "MCPRoute", "QuotaPolicy"},
	EnvoyGatewayGroup:               {"Backend", "BackendTrafficPolicy", "SecurityPolicy", "ClientTrafficPolicy", "EnvoyProxy", "HTTPRouteFilter", "EnvoyExtensionPolicy", "EnvoyPatchPolicy"},
	GatewayAPIGroup:                 {"Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute", "ReferenceGrant"},
	PoolGroup:                       {"InferencePool"},
	"inference.networking.x-k8s.io": {"InferencePool", "InferenceObjective"},
}
