//go:build tools

// Package controlplane only records the kube-apiserver dependency for go mod tidy.
package controlplane

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
