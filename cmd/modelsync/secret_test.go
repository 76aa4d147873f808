package main

import (
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/internal/kubetest"
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
