package capacity

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
)

// A snapshot is the cluster as capacity needs it, and nothing more: the
// nodes' names, labels, taints and allocatable resources, and per pod its
// namespace, name, labels, node, phase and resource requests. It holds no
// pod's containers, images, commands, environment or volumes. An identity
// trusted to list pods cluster-wide (a CronJob of the cluster's operators)
// publishes it as a ConfigMap; the merge request pipelines' plan identity
// reads that one ConfigMap, so it needs no right to read any pod.

// SnapshotKey is the ConfigMap's binaryData key: the snapshot as gzipped JSON.
const SnapshotKey = "capacity.json.gz"

// MaxSnapshotBytes keeps the ConfigMap under the API server's 1 MiB limit.
const MaxSnapshotBytes = 900 << 10

// Snapshot is the nodes and pods capacity reads, taken at Taken.
type Snapshot struct {
	Taken metav1.Time   `json:"taken"`
	Nodes []corev1.Node `json:"nodes"`
	Pods  []corev1.Pod  `json:"pods"`
}

var configMapGVK = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

// Take lists the nodes and the pods of every namespace, keeping only what
// capacity reads of each.
func Take(ctx context.Context, r cluster.Reader, now time.Time) (*Snapshot, error) {
	nodes, err := r.List(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Node"}, "", "")
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := r.List(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "", "")
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	s := &Snapshot{Taken: metav1.NewTime(now.UTC().Truncate(time.Second))}
	for _, u := range nodes {
		var n corev1.Node
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &n); err != nil {
			return nil, err
		}
		s.Nodes = append(s.Nodes, stripNode(n))
	}
	for _, u := range pods {
		var p corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
			return nil, err
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		s.Pods = append(s.Pods, stripPod(p))
	}
	return s, nil
}

func stripNode(n corev1.Node) corev1.Node {
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels},
		Spec:       corev1.NodeSpec{Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable},
		Status:     corev1.NodeStatus{Allocatable: n.Status.Allocatable},
	}
}

// stripPod keeps a pod's requests as one container's: no name, image,
// command, environment or volume of the pod is kept.
func stripPod(p corev1.Pod) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels},
		Spec: corev1.PodSpec{NodeName: p.Spec.NodeName, Containers: []corev1.Container{{
			Name: "requests", Resources: corev1.ResourceRequirements{Requests: requests(&p.Spec)},
		}}},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}
}

// ConfigMap is the snapshot as the ConfigMap namespace/name.
func (s *Snapshot) ConfigMap(namespace, name string) (*unstructured.Unstructured, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() > MaxSnapshotBytes {
		return nil, fmt.Errorf("the capacity snapshot of %d nodes and %d pods is %d bytes compressed, over the %d a ConfigMap holds", len(s.Nodes), len(s.Pods), buf.Len(), MaxSnapshotBytes)
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "modelsync"}},
		BinaryData: map[string][]byte{SnapshotKey: buf.Bytes()},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cm)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// ReadSnapshot reads the snapshot published as the ConfigMap namespace/name.
func ReadSnapshot(ctx context.Context, r cluster.Reader, namespace, name string) (*Snapshot, error) {
	u, err := r.Get(ctx, configMapGVK, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("read the capacity snapshot ConfigMap %s/%s: %w", namespace, name, err)
	}
	var cm corev1.ConfigMap
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cm); err != nil {
		return nil, err
	}
	data, ok := cm.BinaryData[SnapshotKey]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s/%s has no %s: publish it with modelsync capacity publish", namespace, name, SnapshotKey)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", namespace, name, err)
	}
	var s Snapshot
	if err := json.NewDecoder(io.LimitReader(zr, 64<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %w", namespace, name, err)
	}
	return &s, nil
}

// Cluster is the cluster the snapshot shows.
func (s *Snapshot) Cluster() *Cluster { return New(s.Nodes, s.Pods) }
