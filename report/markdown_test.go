package report_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/report"
)

// The note stays under GitLab's limit whatever the plan's size, and keeps
// what a reviewer most needs when it must cut.
func TestMarkdownStaysUnderBudget(t *testing.T) {
	p := &diff.Plan{Namespace: "ns", Inventory: "id"}
	big := strings.Repeat("+ line with `backticks` and <html>\n", 400)
	for i := range 200 {
		p.Changes = append(p.Changes, diff.Change{Action: diff.Update, Kind: "ConfigMap", Name: strings.Repeat("x", i%50+1), Diff: "--- a\n+++ b\n" + big})
	}
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, p, report.MarkdownOptions{ArtifactURL: "https://gitlab.example/artifact"}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > report.MaxMarkdownBytes {
		t.Errorf("note is %d bytes, over %d", buf.Len(), report.MaxMarkdownBytes)
	}
	if !strings.Contains(buf.String(), "https://gitlab.example/artifact") {
		t.Error("cut note does not point at the full plan artifact")
	}

	// At scale the note keeps what a reviewer most needs, whatever the
	// plan's order, and says what it left out.
	p = &diff.Plan{Namespace: "ns", Inventory: "id"}
	body := strings.Repeat("+ spec line\n", 30)
	for i := range 1240 {
		p.Changes = append(p.Changes, diff.Change{Action: diff.Create, Kind: "Service", Name: fmt.Sprintf("model-%04d", i), Diff: body})
	}
	for i := range 30 {
		p.Changes = append(p.Changes, diff.Change{Action: diff.PruneItem, Kind: "AIGatewayRoute", Name: "route", Item: &diff.ItemRef{Noun: "rule", Key: fmt.Sprintf("gone-%d", i)}, Diff: body})
		p.Changes = append(p.Changes, diff.Change{Action: diff.Update, Kind: "BackendSecurityPolicy", Name: fmt.Sprintf("policy-%d", i), Diff: body})
	}
	p.Changes = append(p.Changes, diff.Change{Action: diff.Replace, Kind: "StatefulSet", Name: "resized", Diff: body})
	buf.Reset()
	if err := report.WriteMarkdown(&buf, p, report.MarkdownOptions{ArtifactURL: "https://gitlab.example/artifact"}); err != nil {
		t.Fatal(err)
	}
	note := buf.String()
	if buf.Len() > report.MaxMarkdownBytes {
		t.Errorf("note is %d bytes, over %d", buf.Len(), report.MaxMarkdownBytes)
	}
	for _, want := range []string{"**replace** ` StatefulSet resized `", "**prune-item** ` rule gone-29 removed from AIGatewayRoute route `", "**update** ` BackendSecurityPolicy policy-29 `", "diffs left out", " create Service", "Left out, first 20: "} {
		if !strings.Contains(note, want) {
			t.Errorf("the cut note lacks %q", want)
		}
	}
	if shown := strings.Count(note, "**create** ` Service"); shown == 0 || shown == 1240 || !strings.Contains(note, fmt.Sprintf("**%d diffs left out**", 1240-shown)) {
		t.Errorf("%d create diffs shown; the note does not count the rest as left out", shown)
	}

	// Too many objects to even list: the counts and the artifact.
	p = &diff.Plan{Namespace: "ns", Inventory: "id"}
	for i := range 5000 {
		p.Changes = append(p.Changes, diff.Change{Action: diff.Create, Kind: "StatefulSet", Name: fmt.Sprintf("model-%04d-vllm-inference", i), Origin: "models-config/models/m.yaml:1"})
	}
	buf.Reset()
	if err := report.WriteMarkdown(&buf, p, report.MarkdownOptions{Marker: "m", ArtifactURL: "https://gitlab.example/artifact"}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 2048 || !strings.Contains(buf.String(), "| 5000 | 0 | 0 | 0 |") || !strings.Contains(buf.String(), "too large for a note") {
		t.Errorf("summary note of a 5000-object plan, %d bytes:\n%s", buf.Len(), buf.String())
	}
}
