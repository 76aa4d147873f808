package controlplane

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"k8s.io/utils/ptr"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
// templates. A changed template rolls: the StatefulSets take the new
// template and the StatefulSet controller replaces their pods. It reports
// readyReplicas (updated or not), updatedReplicas, observedGeneration and the
// Available condition, as LWS does.
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
	want, replicas, size, err := lwsStatefulSets(u)
	if err != nil {
		return err
	}
	// A group is ready (updated or not) when its leader and its workers
	// are, and updated when both run the current template.
	ready, updated := replicas, replicas
	for i, s := range want {
		got, err := ensureStatefulSet(ctx, cs, s)
		if err != nil {
			return err
		}
		current := got.Status.ObservedGeneration >= got.Generation
		switch {
		case i == 0:
			ready = min(ready, int64(got.Status.ReadyReplicas))
			if !current {
				updated = 0
			}
			updated = min(updated, int64(got.Status.UpdatedReplicas))
		default:
			if int64(got.Status.ReadyReplicas) < size-1 {
				ready--
			}
			if !current || int64(got.Status.UpdatedReplicas) < size-1 {
				updated--
			}
		}
	}
	return writeLWSStatus(ctx, dyn, u, replicas, max(ready, 0), max(updated, 0))
}

// lwsStatefulSets are the StatefulSets a LeaderWorkerSet runs: the leaders'
// (one pod per group), then each group's workers (size-1 pods).
func lwsStatefulSets(u *unstructured.Unstructured) (want []*appsv1.StatefulSet, replicas, size int64, err error) {
	replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	size, found, _ = unstructured.NestedInt64(u.Object, "spec", "leaderWorkerTemplate", "size")
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
		return nil, 0, 0, err
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
		maps.Copy(t.Labels, labels)
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
	want = []*appsv1.StatefulSet{statefulSet(name, replicas, leader, map[string]string{lwsNameLabel: name, lwsWorkerLabel: "0"})}
	if size > 1 {
		for g := range replicas {
			group := strconv.FormatInt(g, 10)
			want = append(want, statefulSet(name+"-"+group, size-1, spec.WorkerTemplate, map[string]string{lwsNameLabel: name, lwsGroupLabel: group}))
		}
	}
	return want, replicas, size, nil
}

// ensureStatefulSet creates s, or rolls the one there to s's template and
// replicas: the StatefulSet controller then replaces its pods, as LWS's
// rolling update replaces groups.
func ensureStatefulSet(ctx context.Context, cs kubernetes.Interface, s *appsv1.StatefulSet) (*appsv1.StatefulSet, error) {
	sets := cs.AppsV1().StatefulSets(s.Namespace)
	got, err := sets.Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return sets.Create(ctx, s, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, err
	}
	// The API server defaults what the template leaves out: compare only
	// what the LeaderWorkerSet sets.
	if equality.Semantic.DeepDerivative(s.Spec.Template, got.Spec.Template) && *s.Spec.Replicas == ptr.Deref(got.Spec.Replicas, 1) {
		return got, nil
	}
	got.Spec.Template, got.Spec.Replicas = s.Spec.Template, s.Spec.Replicas
	return sets.Update(ctx, got, metav1.UpdateOptions{})
}

// writeLWSStatus reports the groups as LWS does: replicas, readyReplicas
// (updated or not), updatedReplicas, the generation observed, and Available.
func writeLWSStatus(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured, replicas, ready, updated int64) error {
	available := "False"
	if ready >= replicas {
		available = "True"
	}
	old, _, _ := unstructured.NestedMap(u.Object, "status")
	if old != nil && old["readyReplicas"] == ready && old["updatedReplicas"] == updated && old["observedGeneration"] == u.GetGeneration() && conditionStatus(old) == available {
		return nil
	}
	u = u.DeepCopy()
	u.Object["status"] = map[string]any{
		"replicas": replicas, "readyReplicas": ready, "updatedReplicas": updated, "observedGeneration": u.GetGeneration(),
		"conditions": []any{map[string]any{
			"type": "Available", "status": available, "reason": "GroupsReady",
			"message": fmt.Sprintf("%d of %d groups ready", ready, replicas), "lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339),
		}},
	}
	_, err := dyn.Resource(leaderWorkerSets).Namespace(u.GetNamespace()).UpdateStatus(ctx, u, metav1.UpdateOptions{})
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
