package main

import (
	"strings"
	"testing"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// Fields added by hand are drift: a `kubectl edit` that adds an env var
// and a nodeSelector to a managed StatefulSet shows in diff and diff --full
// (exit 1, each field and its manager), and sync removes both. A label
// added by a manager the team keeps (--keep-fields-of) is neither reported
// nor removed.
func TestFieldsAddedByHandAreDrift(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	target := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir, "--keep-fields-of", "kubectl-label"}
	if code, out, stderr := run(append([]string{"sync"}, target...)...); code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	const sts = "qwen3-embedding-8b-vllm-inference"
	container := kubetest.Kubectl(t, ns, "", "get", "statefulset", sts, "-o", "jsonpath={.spec.template.spec.containers[0].name}")
	kubetest.Kubectl(t, ns, "", "patch", "statefulset", sts, "--field-manager", "kubectl-edit", "-p",
		`{"spec":{"template":{"spec":{"nodeSelector":{"nvidia.com/gpu.product":"NVIDIA-H100"},"containers":[{"name":"`+container+`","env":[{"name":"HAND_EDIT","value":"3am"}]}]}}}}`)
	kubetest.Kubectl(t, ns, "", "label", "service", sts, "team-note=kept")

	for _, args := range [][]string{{"diff"}, {"diff", "--full"}} {
		code, out, stderr := run(append(args, target...)...)
		if code != 1 || !strings.Contains(out, `+ .spec.template.spec.nodeSelector added by kubectl-edit`) ||
			!strings.Contains(out, `].env added by kubectl-edit`) {
			t.Errorf("%s after a hand edit: exit %d, want 1 naming both fields and kubectl-edit\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
		if strings.Contains(out, "team-note") {
			t.Errorf("%s reports the kept manager's label:\n%s", strings.Join(args, " "), out)
		}
	}
	if code, out, stderr := run(append([]string{"sync"}, target...)...); code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	live := kubetest.Kubectl(t, ns, "", "get", "statefulset", sts, "-o", "jsonpath={.spec.template.spec.nodeSelector} {.spec.template.spec.containers[0].env}")
	if strings.Contains(live, "HAND_EDIT") || strings.Contains(live, "NVIDIA-H100") {
		t.Errorf("after sync the hand-added fields are live: %s", live)
	}
	if l := kubetest.Kubectl(t, ns, "", "get", "service", sts, "-o", "jsonpath={.metadata.labels.team-note}"); l != "kept" {
		t.Errorf("the kept manager's label after sync: %q, want kept", l)
	}
	if code, out, stderr := run(append([]string{"diff", "--full"}, target...)...); code != 0 {
		t.Errorf("diff --full after sync: exit %d\n%s%s", code, out, stderr)
	}
}
