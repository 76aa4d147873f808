package main

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// A Secret value of the wrong type is refused by validate, naming the key,
// and no command prints the value; render masks Secret values unless asked.
func TestSecretValuesStayHidden(t *testing.T) {
	const canary = "c4n4ry-9d2e"
	files := kubetest.RepoTree(t)
	files["models-config/bad-secret.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\nstringData:\n  token: [" + canary + "]\n")}
	bad := kubetest.WriteTree(t, files)
	ns := kubetest.Namespace(t)
	conn := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", bad}
	for _, args := range [][]string{
		{"validate", "--path", bad, "-n", ns},
		{"validate", "--path", bad, "-n", ns, "-o", "junit"},
		{"render", "--path", bad, "-n", ns},
		append([]string{"diff", "-o", "json"}, conn...),
		append([]string{"sync"}, conn...),
	} {
		code, out, stderr := run(args...)
		if code == 0 || strings.Contains(out+stderr, canary) {
			t.Errorf("%s: exit %d, output shows the value or accepts it:\n%s%s", args[0], code, out, stderr)
		}
		if args[0] == "validate" && !strings.Contains(out, "stringData.token is not a string") {
			t.Errorf("validate does not name the key:\n%s", out)
		}
	}

	files = kubetest.RepoTree(t)
	files["models-config/key.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: key\nstringData:\n  token: " + canary + "\n")}
	good := kubetest.WriteTree(t, files)
	if code, out, _ := run("render", "--path", good, "-n", ns); code != 0 || strings.Contains(out, canary) || !strings.Contains(out, "token: '***'") {
		t.Errorf("render: exit %d, the value not masked", code)
	}
	if code, out, _ := run("render", "--path", good, "-n", ns, "--show-secrets"); code != 0 || !strings.Contains(out, canary) {
		t.Errorf("render --show-secrets: exit %d, the value not shown", code)
	}
}

// The libraries state what they refused; the CLI names the flag that
// answers it.
func TestRefusalsNameTheFlag(t *testing.T) {
	ns := kubetest.Namespace(t)
	kc := kubetest.KubeconfigFile(t)
	empty := kubetest.WriteTree(t, fstest.MapFS{"models-config/README.md": &fstest.MapFile{Data: []byte("nothing")}})
	if code, _, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", empty); code != 2 || !strings.Contains(stderr, "the desired set is empty") || !strings.Contains(stderr, "hint: check --path and -n; pass --allow-empty") {
		t.Errorf("sync of an empty tree: exit %d %s", code, stderr)
	}
	files := fstest.MapFS{"models-config/cm.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: handmade\n")}}
	kubetest.Kubectl(t, ns, string(files["models-config/cm.yaml"].Data), "apply", "-f", "-")
	dir := kubetest.WriteTree(t, files)
	if code, _, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", dir); code != 2 || !strings.Contains(stderr, "ConfigMap handmade") || !strings.Contains(stderr, "hint: rerun sync with --adopt") {
		t.Errorf("sync of a hand-made object: exit %d %s", code, stderr)
	}
	if code, out, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", dir, "--adopt"); code != 0 {
		t.Errorf("sync --adopt: exit %d %s%s", code, out, stderr)
	}
}

// An immutable Secret whose value changes is a replace, shown masked like
// any Secret change, in every output the plan has; a prune refused by an
// admission policy that quotes the Secret's data says who refused, without
// the data.
func TestSecretReplaceAndRefusalStayMasked(t *testing.T) {
	const before, after = "c4n4ry-before-31f7", "c4n4ry-after-8b02"
	leaks := func(s string) bool {
		for _, v := range []string{before, after} {
			if strings.Contains(s, v) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(v))) {
				return true
			}
		}
		return false
	}
	secret := func(v string) fstest.MapFS {
		return fstest.MapFS{"models-config/key.yaml": &fstest.MapFile{Data: []byte(
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: key\nimmutable: true\nstringData:\n  token: " + v + "\n")}}
	}
	ns := kubetest.Namespace(t)
	kc := kubetest.KubeconfigFile(t)
	if code, out, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", kubetest.WriteTree(t, secret(before))); code != 0 {
		t.Fatalf("sync: exit %d %s%s", code, out, stderr)
	}
	dir := kubetest.WriteTree(t, secret(after))
	outDir := t.TempDir()
	plan := filepath.Join(outDir, "plan.json")
	for _, o := range []string{"text", "markdown", "json"} {
		code, out, stderr := run("diff", "--kubeconfig", kc, "-n", ns, "--path", dir, "-o", o,
			"--plan-out", plan, "--markdown-out", filepath.Join(outDir, "plan.md"), "--report-out", filepath.Join(outDir, "report.json"))
		if code != 1 || !strings.Contains(out, "replace") || !strings.Contains(out, "***") || leaks(out+stderr) {
			t.Errorf("diff -o %s: exit %d, want a masked replace:\n%s%s", o, code, out, stderr)
		}
	}
	for _, f := range []string{"plan.json", "plan.md", "report.json"} {
		b, err := os.ReadFile(filepath.Join(outDir, f))
		if err != nil || leaks(string(b)) {
			t.Errorf("%s shows the Secret's value (or is missing: %v):\n%s", f, err, b)
		}
	}

	// An admission policy refuses deleting the Secret and quotes its data.
	policy := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: keep-key-` + ns + `
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [DELETE], resources: [secrets]}
  validations:
  - expression: oldObject.metadata.name != 'key'
    messageExpression: "'keys stay: data=' + string(oldObject.data)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: keep-key-` + ns + `
spec:
  policyName: keep-key-` + ns + `
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: ` + ns + `}
`
	kubetest.Kubectl(t, "", policy, "apply", "-f", "-")
	t.Cleanup(func() {
		del := exec.Command("kubectl", "--kubeconfig", kc, "delete", "-f", "-")
		del.Stdin = strings.NewReader(policy)
		if out, err := del.CombinedOutput(); err != nil {
			t.Errorf("delete the policy: %v\n%s", err, out)
		}
	})
	// The API server reads policies from an informer; a server-side dry
	// run goes through admission too, so it shows when the policy holds.
	if err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		out, _ := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kc, "-n", ns, "delete", "secret", "key", "--dry-run=server").CombinedOutput()
		return strings.Contains(string(out), "denied"), nil
	}); err != nil {
		t.Fatal("the admission policy never took effect")
	}
	// The Secret is the set's only member: its replace needs consent.
	code, out, stderr := run("prune", "--kubeconfig", kc, "-n", ns, "--path", dir, "--plan", plan, "--allow-mass-prune")
	if code == 0 || leaks(out+stderr) || !strings.Contains(out+stderr, "denied by ValidatingAdmissionPolicy 'keep-key-"+ns+"'") || strings.Contains(out+stderr, "must be a string") {
		t.Errorf("prune refused by the policy: exit %d, want the policy named and no value:\n%s%s", code, out, stderr)
	}
}

// render prints what sync applies, labels included: its output applied by
// hand with modelsync's field manager keeps every member in the set, and
// the next diff is clean.
func TestRenderOutputKeepsMembersInTheSet(t *testing.T) {
	ns := kubetest.Namespace(t)
	kc := kubetest.KubeconfigFile(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	if code, out, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", dir); code != 0 {
		t.Fatalf("sync: exit %d %s%s", code, out, stderr)
	}
	code, rendered, stderr := run("render", "-n", ns, "--path", dir)
	if code != 0 || !strings.Contains(rendered, "applyset.kubernetes.io/part-of: applyset-") {
		t.Fatalf("render: exit %d, no part-of label\n%s", code, stderr)
	}
	kubetest.Kubectl(t, ns, rendered, "apply", "--server-side", "--field-manager=modelsync", "--force-conflicts", "-f", "-")
	if code, out, stderr := run("diff", "--kubeconfig", kc, "-n", ns, "--path", dir); code != 0 {
		t.Errorf("diff after applying render's output by hand: exit %d\n%s%s", code, out, stderr)
	}
}
