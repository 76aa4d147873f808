package sync_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

// A claim smaller than its StatefulSet's template (the controller never
// resizes claims) is never a clean plan: it is a resize, and sync raises
// its request, or fails saying why when the API server refuses (here the
// claim is not bound, so its request cannot change).
func TestUndersizedClaimIsAResize(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	const sts = "minimax-vllm-inference"
	claim := e.createClaim(sts) // 1Gi, as made before the template grew
	res, _ := e.Plan(files)
	var resizes []string
	for _, ch := range res.Plan.Changes {
		if ch.Action == diff.Resize {
			resizes = append(resizes, ch.Kind+" "+ch.Name+": "+ch.Message)
		}
	}
	if len(resizes) != 1 || !strings.Contains(resizes[0], "PersistentVolumeClaim "+claim+": requests 1Gi; StatefulSet "+sts) || !res.Plan.HasChanges() {
		t.Fatalf("plan with a 1Gi claim: resizes %v", resizes)
	}
	if _, _, err := e.trySync(t.Context(), files, sync.DefaultOptions()); err == nil || !strings.Contains(err.Error(), "could not be resized") {
		t.Errorf("sync of an unbound undersized claim: %v, want the refusal", err)
	}
	if res, _ := e.Plan(files); res.Plan.Counts()[diff.Resize] != 1 {
		t.Errorf("after the refused resize the plan is clean")
	}

	// A claim as large as the template asks is no change.
	if err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Delete(t.Context(), claim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sized := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: strings.TrimSuffix(claim, "-0") + "-1"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Ti")}},
	}}
	if _, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Create(t.Context(), sized, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.Plan(files); res.Plan.Counts()[diff.Resize] != 0 {
		t.Errorf("a claim as large as its template is planned as a resize: %+v", res.Plan.Changes)
	}
}
