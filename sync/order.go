package sync

// applyOrder ranks kinds so that what is pointed at exists before what points
// at it: storage and config, Services, workloads, Backends, AIServiceBackends,
// security policies, routes, then traffic policies; unknown kinds last.
var applyOrder = map[string]int{
	"ConfigMap": 0, "Secret": 0, "PersistentVolumeClaim": 0, "ServiceAccount": 0,
	"Service":     1,
	"StatefulSet": 2, "Deployment": 2,
	"Backend":               3,
	"AIServiceBackend":      4,
	"BackendSecurityPolicy": 5,
	"AIGatewayRoute":        6,
	"BackendTrafficPolicy":  7, "SecurityPolicy": 7, "ClientTrafficPolicy": 7,
}

const unknownKindRank = 8

// Rank is kind's place in the apply order; prune runs the reverse.
func Rank(kind string) int {
	if r, ok := applyOrder[kind]; ok {
		return r
	}
	return unknownKindRank
}
