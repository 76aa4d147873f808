//go:build tools

// Package controlplane only records the control-plane dependencies for go mod
// tidy: the API server, and the controller-manager and scheduler that make
// the local cluster behave like a real one.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
