package kubetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/client-go/rest"
)

// Kubectl runs the kubectl client against the package's control plane in
// namespace ns, with stdin, and returns its combined output; a failure
// fails the test.
func Kubectl(t testing.TB, ns, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "kubectl", append([]string{"--kubeconfig", KubeconfigFile(t), "-n", ns}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// KubeconfigFile writes an admin kubeconfig of the package's control plane
// into the test's temporary directory and returns its path.
func KubeconfigFile(t testing.TB) string {
	t.Helper()
	kc, err := ControlPlane(t).Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// UserKubeconfig writes a kubeconfig of a client-certificate user with no
// permission but what RBAC grants, and returns its path and config.
func UserKubeconfig(t testing.TB, name string) (string, *rest.Config) {
	t.Helper()
	kc, cfg, err := ControlPlane(t).User(name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+name)
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// WriteTree writes files (paths starting with models-config/) under a
// temporary directory and returns the models-config directory.
func WriteTree(t testing.TB, files fstest.MapFS) string {
	t.Helper()
	root := t.TempDir()
	for name, f := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "models-config")
}
