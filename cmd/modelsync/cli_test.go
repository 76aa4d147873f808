package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestNamespaceFromTheTree: the runbook's raw files name nrp-llm, so
// validate targets it without -n; a tree naming two namespaces asks for -n.
func TestNamespaceFromTheTree(t *testing.T) {
	if code, out, stderr := run("validate", "--path", "../../testdata/runbook"); code != 0 || !strings.Contains(out, "0 error(s)") {
		t.Errorf("validate of the runbook's files without -n: exit %d\n%s%s", code, out, stderr)
	}
	dir := filepath.Join(t.TempDir(), "models-config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, ns := range []string{"nrp-llm", "sdsc-llm"} {
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c" + string(rune('0'+i)) + "\n  namespace: " + ns + "\n"
		if err := os.WriteFile(filepath.Join(dir, ns+".yaml"), []byte(cm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := run("validate", "--path", dir); code != 2 || !strings.Contains(stderr, "the tree names several namespaces (nrp-llm, sdsc-llm); pass -n") {
		t.Errorf("two namespaces without -n: exit %d %s", code, stderr)
	}
}

func TestValidateExitCodes(t *testing.T) {
	if code, out, _ := run("validate", "--path", "../../models-config", "-n", "nrp-llm"); code != 0 || !strings.Contains(out, "no problems found") {
		t.Errorf("clean tree: exit %d, %q", code, out)
	}
	dir := filepath.Join(t.TempDir(), "models-config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run("validate", "--path", dir, "-o", "junit")
	if code != 1 || !strings.Contains(out, `<failure message="invalid YAML`) || !strings.Contains(out, `file="models-config/bad.yaml"`) {
		t.Errorf("broken tree: exit %d\n%s", code, out)
	}
	// In CI: the findings in the log, and the JUnit file for the MR widget.
	junit := filepath.Join(t.TempDir(), "validate.xml")
	code, out, _ = run("validate", "--path", dir, "--junit-out", junit)
	xml, _ := os.ReadFile(junit)
	if code != 1 || !strings.Contains(out, "models-config/bad.yaml:4") || !strings.Contains(string(xml), `<failure message="invalid YAML`) {
		t.Errorf("--junit-out: exit %d, log %q, file\n%s", code, out, xml)
	}
	if code, _, stderr := run("validate", "-o", "xml"); code != 2 || !strings.Contains(stderr, "use text, json or junit") {
		t.Errorf("bad flag: exit %d %q", code, stderr)
	}
}

func TestRenderJSONIsAList(t *testing.T) {
	code, out, stderr := run("render", "--path", "../../models-config", "-n", "nrp-llm", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "List" || len(list.Items) != 46 {
		t.Errorf("render -o json: %v kind %q with %d items", err, list.Kind, len(list.Items))
	}
}
