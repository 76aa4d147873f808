package capacity

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"modelsync.dev/modelsync/internal/testing/objtest"
)

func gpuNode(name string, gpus int64, product string, taints ...corev1.Taint) corev1.Node {
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"nvidia.com/gpu.product": product}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			"nvidia.com/gpu": *resource.NewQuantity(gpus, resource.DecimalSI),
			"cpu":            resource.MustParse("64"), "memory": resource.MustParse("1Ti"),
		}},
	}
}

func running(ns, node string, gpus int64, labels map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: node + "-pod", Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{"nvidia.com/gpu": *resource.NewQuantity(gpus, resource.DecimalSI)}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

const eightGPUs = `{kind: StatefulSet, spec: {replicas: 1, template: {spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: "8"}, requests: {cpu: "18", memory: 200Gi}}}]}}}}`

func TestPlace(t *testing.T) {
	h100 := gpuNode("h100-8", 8, "NVIDIA-H100")
	small := gpuNode("h100-4", 4, "NVIDIA-H100")
	reserved := gpuNode("a100-8", 8, "NVIDIA-A100", corev1.Taint{Key: "nautilus.io/reservation", Value: "other", Effect: corev1.TaintEffectNoSchedule})
	for _, tc := range []struct {
		name     string
		nodes    []corev1.Node
		pods     []corev1.Pod
		release  map[string]string
		workload string
		want     string
	}{
		{"a free 8-GPU node", []corev1.Node{h100, small}, nil, nil, eightGPUs, "fits now (on h100-8)"},
		{"the 8-GPU node half taken", []corev1.Node{h100, small}, []corev1.Pod{running("other", "h100-8", 4, nil)}, nil, eightGPUs,
			"cannot be placed now: 1 of 1 pods: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu"},
		{"its own old pod, which the plan replaces, is released", []corev1.Node{h100}, []corev1.Pod{running("llm", "h100-8", 8, map[string]string{"app": "m"})}, map[string]string{"app": "m"}, eightGPUs,
			"fits now (on h100-8)"},
		{"a taint it does not tolerate", []corev1.Node{reserved}, nil, nil, eightGPUs,
			"cannot be placed now: 1 of 1 pods: 0/1 nodes are available: 1 had untolerated taint {nautilus.io/reservation: other}"},
		{"node affinity on the GPU product", []corev1.Node{h100, reserved},
			nil, nil, `{kind: StatefulSet, spec: {replicas: 1, template: {spec: {tolerations: [{key: nautilus.io/reservation, operator: Exists}],
			affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-A100]}]}]}}},
			containers: [{name: c, resources: {limits: {nvidia.com/gpu: "8"}}}]}}}}`, "fits now (on a100-8)"},
		{"GPUs packed: a 4-GPU pod takes the 4-GPU node", []corev1.Node{h100, small}, nil, nil,
			`{kind: StatefulSet, spec: {replicas: 1, template: {spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: "4"}}}]}}}}`, "fits now (on h100-4)"},
		{"a LeaderWorkerSet group of 3 on two nodes", []corev1.Node{h100, gpuNode("h200-8", 8, "NVIDIA-H200")}, nil, nil,
			`{kind: LeaderWorkerSet, spec: {replicas: 1, leaderWorkerTemplate: {size: 3,
			leaderTemplate: {spec: {containers: [{name: l, resources: {limits: {nvidia.com/gpu: "8"}}}]}},
			workerTemplate: {spec: {containers: [{name: w, resources: {limits: {nvidia.com/gpu: "8"}}}]}}}}}`,
			"cannot be placed now: 1 of 3 pods: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.nodes, tc.pods)
			c.Release("llm", tc.release)
			v, ok := c.Place(objtest.Object(t, tc.workload))
			if !ok || v.String() != tc.want {
				t.Errorf("Place = %q (%v), want %q", v.String(), ok, tc.want)
			}
		})
	}
	if _, ok := New(nil, nil).Place(objtest.Object(t, `{kind: Service}`)); ok {
		t.Error("a Service was placed")
	}
	if v, _ := New([]corev1.Node{h100}, nil).Place(objtest.Object(t, eightGPUs)); !strings.Contains(v.String(), "h100-8") {
		t.Error(v)
	}
}
