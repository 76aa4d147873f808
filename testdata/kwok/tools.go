//go:build tools

// Module kwok builds kwok (sigs.k8s.io/kwok), which simulates the nodes and
// pods of the local cluster, from the Go module proxy; its own module, since
// it pins other Kubernetes libraries than the control plane.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
