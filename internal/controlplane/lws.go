package controlplane

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"k8s.io/utils/ptr"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// The simulated cluster's stand-in for the LeaderWorkerSet controller, whose
// module (sigs.k8s.io/lws) the Go module proxy here does not serve. It does
// what the real one does for the fields modelsync writes: per LeaderWorkerSet
// a leader StatefulSet (one leader pod per group) and a worker StatefulSet per
// group (size-1 pods), owned by it, with the LWS_* environment and the claim
// templates; and it reports readyReplicas and the Available condition. It
// creates the StatefulSets once and does not roll them: a changed template
// is not simulated.
var leaderWorkerSets = schema.GroupVersionResource{Group: "leaderworkerset.x-k8s.io", Version: "v1", Resource: "leaderworkersets"}

const (
	lwsNameLabel   = "leaderworkerset.sigs.k8s.io/name"
	lwsGroupLabel  = "leaderworkerset.sigs.k8s.io/group-index"
	lwsWorkerLabel = "leaderworkerset.sigs.k8s.io/worker-index"
)

func runLeaderWorkerSets(ctx context.Context, dyn dynamic.Interface, cs kubernetes.Interface) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		list, err := dyn.Resource(leaderWorkerSets).Namespace("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return // no CRD yet, or the API server is busy: the next round tries again
		}
		for i := range list.Items {
			if list.Items[i].GetDeletionTimestamp() == nil {
				_ = reconcileLWS(ctx, dyn, cs, &list.Items[i])
			}
		}
	}, 500*time.Millisecond)
}

func reconcileLWS(ctx context.Context, dyn dynamic.Interface, cs kubernetes.Interface, u *unstructured.Unstructured) error {
	replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	size, found, _ := unstructured.NestedInt64(u.Object, "spec", "leaderWorkerTemplate", "size")
	if !found {
		size = 1
	}
	var spec struct {
		LeaderTemplate       *corev1.PodTemplateSpec                                 `json:"leaderTemplate"`
		WorkerTemplate       corev1.PodTemplateSpec                                  `json:"workerTemplate"`
		VolumeClaimTemplates []corev1.PersistentVolumeClaim                          `json:"volumeClaimTemplates"`
		Retention            *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy"`
	}
	tmpl, _, _ := unstructured.NestedMap(u.Object, "spec", "leaderWorkerTemplate")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &spec); err != nil {
		return err
	}
	leader := spec.WorkerTemplate
	if spec.LeaderTemplate != nil {
		leader = *spec.LeaderTemplate
	}
	name, ns := u.GetName(), u.GetNamespace()
	owner := metav1.OwnerReference{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: name, UID: u.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	statefulSet := func(stsName string, n int64, t corev1.PodTemplateSpec, labels map[string]string) *appsv1.StatefulSet {
		t = *t.DeepCopy()
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		for k, v := range labels {
			t.Labels[k] = v
		}
		for i := range t.Spec.Containers {
			t.Spec.Containers[i].Env = append(t.Spec.Containers[i].Env,
				corev1.EnvVar{Name: "LWS_GROUP_SIZE", Value: strconv.FormatInt(size, 10)},
				corev1.EnvVar{Name: "LWS_LEADER_ADDRESS", Value: name + "-0." + name + "." + ns})
		}
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: stsName, Namespace: ns, OwnerReferences: []metav1.OwnerReference{owner}, Labels: map[string]string{lwsNameLabel: name}},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To(int32(n)), ServiceName: name, PodManagementPolicy: appsv1.ParallelPodManagement,
				Selector:                             &metav1.LabelSelector{MatchLabels: labels},
				Template:                             t,
				VolumeClaimTemplates:                 spec.VolumeClaimTemplates,
				PersistentVolumeClaimRetentionPolicy: spec.Retention,
			},
		}
	}
	want := []*appsv1.StatefulSet{statefulSet(name, replicas, leader, map[string]string{lwsNameLabel: name, lwsWorkerLabel: "0"})}
	if size > 1 {
		for g := range replicas {
			group := strconv.FormatInt(g, 10)
			want = append(want, statefulSet(name+"-"+group, size-1, spec.WorkerTemplate, map[string]string{lwsNameLabel: name, lwsGroupLabel: group}))
		}
	}
	ready := replicas
	for i, s := range want {
		got, err := cs.AppsV1().StatefulSets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			got, err = cs.AppsV1().StatefulSets(ns).Create(ctx, s, metav1.CreateOptions{})
		}
		if err != nil {
			return err
		}
		switch {
		case i == 0:
			ready = min(ready, int64(got.Status.ReadyReplicas))
		case int64(got.Status.ReadyReplicas) < size-1:
			ready--
		}
	}
	ready = max(ready, 0)
	available := "False"
	if ready >= replicas {
		available = "True"
	}
	status := map[string]any{
		"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas,
		"conditions": []any{map[string]any{
			"type": "Available", "status": available, "reason": "GroupsReady",
			"message": fmt.Sprintf("%d of %d groups ready", ready, replicas), "lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339),
		}},
	}
	if old, _, _ := unstructured.NestedMap(u.Object, "status"); old != nil && old["readyReplicas"] == ready && conditionStatus(old) == available {
		return nil
	}
	u = u.DeepCopy()
	u.Object["status"] = status
	_, err := dyn.Resource(leaderWorkerSets).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}

func conditionStatus(status map[string]any) string {
	conds, _ := status["conditions"].([]any)
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Available" {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
