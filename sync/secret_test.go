package sync_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/report"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// A Secret value of the wrong type, which the API server quotes in
// its error, reaches no output: not the plan (text, markdown, JSON), not
// sync's error. validate refuses it first (cmd's tests); this is the path
// behind it, for a tree that gets past validation some other way.
func TestSecretValueNeverEchoed(t *testing.T) {
	const canary = "c4n4ry-5ecret-7731"
	e := newEnv(t)
	files := fstest.MapFS{"models-config/secret.yaml": &fstest.MapFile{Data: []byte(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: upstream-key\nstringData:\n  token: [" + canary + "]\n  port: 7731\n")}}
	set, err := desired.Load(t.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: e.NS})
	if err != nil {
		t.Fatal(err)
	}
	if !set.HasErrors() {
		t.Error("validation accepts a Secret value that is not a string")
	}
	for _, d := range set.Diagnostics {
		if strings.Contains(d.String(), canary) || strings.Contains(d.String(), "7731") {
			t.Errorf("a diagnostic shows the value: %s", d)
		}
	}

	// The API server itself quotes values: without redaction they would leak.
	data, _ := json.Marshal(set.Objects[0].Object)
	force := true
	_, raw := e.C.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(e.NS).
		Patch(t.Context(), "upstream-key", types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "t", Force: &force, DryRun: []string{metav1.DryRunAll}})
	if raw == nil || !strings.Contains(raw.Error(), canary) {
		t.Fatalf("the API server's own error does not quote the value (%v): the test shows nothing", raw)
	}

	d := diff.New(e.C.Reader(), e.NS, diff.DefaultOptions())
	res, err := d.Plan(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = report.WriteText(&out, res.Plan)
	_ = report.WriteMarkdown(&out, res.Plan, report.MarkdownOptions{})
	_ = res.Plan.WriteJSON(&out)
	if !res.Plan.HasErrors() || !strings.Contains(out.String(), "withheld") {
		t.Errorf("the plan does not say the Secret was refused:\n%s", out.String())
	}
	_, applyErr := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(t.Context(), res, "rev", sync.DefaultOptions(), sync.NoProgress{})
	if applyErr == nil {
		t.Fatal("sync applied a refused Secret")
	}
	out.WriteString(applyErr.Error())
	for _, leak := range []string{canary, "7731"} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("output holds the Secret value %q:\n%s", leak, out.String())
		}
	}
}
