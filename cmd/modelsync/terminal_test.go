package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/manifest"
)

// Output that is not a terminal (a CI log, a pipe, a buffer) is plain: no
// escape sequences, one line per event.
func TestPlainOutsideATerminal(t *testing.T) {
	var buf bytes.Buffer
	if d := displayFor(&buf); d.color || d.live {
		t.Fatalf("a buffer gets %+v", d)
	}
	p := newLineProgress(&buf)
	id := manifest.ID{Kind: "StatefulSet", Namespace: "ns", Name: "m"}
	p.Applied(sync.Applied{Change: diff.Change{Action: diff.Create, Kind: "Service", Name: "m"}})
	p.Health(sync.Health{ID: id, Message: "0 of 1 pods ready"})
	p.Health(sync.Health{ID: id, Ready: true, Message: "1 of 1 pods ready"})
	want := "create     Service m\nwaiting    StatefulSet ns/m: 0 of 1 pods ready\nhealthy    StatefulSet ns/m: 1 of 1 pods ready\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// On a terminal, what is still awaited is one live line, redrawn in place;
// lines that stay (an action, an object turning healthy) clear it first.
func TestLiveLineOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := &lineProgress{w: &buf, d: display{color: true, live: true}, waiting: map[manifest.ID]string{}}
	a := manifest.ID{Kind: "StatefulSet", Namespace: "ns", Name: "a"}
	b := manifest.ID{Kind: "StatefulSet", Namespace: "ns", Name: "b"}
	p.Health(sync.Health{ID: a, Message: "0 of 1 pods ready"})
	p.Health(sync.Health{ID: b, Message: "0 of 2 pods ready"})
	p.Health(sync.Health{ID: a, Ready: true, Message: "1 of 1 pods ready"})
	out := buf.String()
	for _, want := range []string{
		"waiting for 1 object(s): StatefulSet ns/a: 0 of 1 pods ready",
		"\r\x1b[Kwaiting for 2 object(s): StatefulSet ns/a: 0 of 1 pods ready",
		"\r\x1b[K" + green + "healthy    StatefulSet ns/a: 1 of 1 pods ready\n" + reset + "waiting for 1 object(s): StatefulSet ns/b: 0 of 2 pods ready",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("status changes while waiting printed lines of their own:\n%q", out)
	}
}

func TestColorLine(t *testing.T) {
	for _, tc := range []struct{ line, color string }{
		{"    +        image: vllm/vllm-openai:v0.12.0", green},
		{"    -        image: vllm/vllm-openai:v0.11.2", red},
		{"    +++ desired/StatefulSet/m", bold},
		{"    @@ -56,7 +56,7 @@", cyan},
		{"prune      Service m", red},
		{"create     Service m", green},
		{"             imagePullPolicy: Always", ""},
	} {
		want := tc.line
		if tc.color != "" {
			want = tc.color + tc.line + reset
		}
		if got := colorLine(tc.line); got != want {
			t.Errorf("colorLine(%q) = %q, want %q", tc.line, got, want)
		}
	}
}
