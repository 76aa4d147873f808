package engine_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
)

// kubeletExpand does what the kubelet does to a container's args before the
// container starts: $(VAR) becomes the variable's value when the container
// has it, $$ becomes $, anything else stays (kubernetes
// third_party/forked/golang/expansion).
func kubeletExpand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// engineArgv runs a container's bash -c line as the pod would (the kubelet's
// expansion, then bash) with python3 replaced by a stub that writes its
// arguments, and returns them.
func engineArgv(t testing.TB, line string) []string {
	t.Helper()
	dir := t.TempDir()
	stub := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$ARGV_OUT\"\n"
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "argv")
	env := map[string]string{"HF_TOKEN": "secret-token", "HOME": "/root", "MODEL": "pwned"}
	cmd := exec.Command("bash", "-c", kubeletExpand(line, env))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "ARGV_OUT=" + out, "HF_TOKEN=secret-token", "HOME=/root"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash -c %q: %v\n%s", line, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatalf("the line ran a command of the tree's: %q", line)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the engine did not start: %v\nline: %q\n%s", err, line, stderr.String())
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// hostileModel is a served Model with every field that reaches the engine's
// line set from v (v[i] for the i-th field).
func hostileModel(e string, v []string) *model.Model {
	return &model.Model{
		Metadata: model.Metadata{Name: "m"},
		Spec: model.Spec{
			Upstream: v[0], Revision: v[1], Served: v[2], Pool: &model.Pool{},
			Server: &model.Server{
				Engine: e, Image: "i", Hardware: model.Hardware{GPUs: 1},
				ToolCallParser: v[3], ReasoningParser: v[4], HFOverrides: v[5], Args: []string{v[6], v[7]},
			},
		},
	}
}

const hostileFields = 8

// checkLine asserts that the engine receives each of the tree's values as
// one argument, unchanged: the line for placeholders gives the argv the
// engine should get, with each placeholder then replaced by its value.
func checkLine(t testing.TB, e string, values []string) {
	t.Helper()
	placeholders := make([]string, hostileFields)
	for i := range placeholders {
		placeholders[i] = "PLACEHOLDER" + string(rune('A'+i))
	}
	m := hostileModel(e, placeholders)
	want := engineArgv(t, engine.Line(m, m.Spec.Server.ResolvedVariants()[0]))
	for i, w := range want {
		for j, p := range placeholders {
			if w == p {
				want[i] = values[j]
			}
		}
	}
	m = hostileModel(e, values)
	line := engine.Line(m, m.Spec.Server.ResolvedVariants()[0])
	if d := cmp.Diff(want, engineArgv(t, line)); d != "" {
		t.Fatalf("the engine's arguments (-want +got):\n%s\nvalues: %q\nline: %s", d, values, line)
	}
}

// hostilePieces are what a hostile merge request writes into a name.
var hostilePieces = []string{
	"Qwen/Qwen3-8B", ";", "touch pwned", "$(id)", "$(MODEL)", "$(HF_TOKEN)", "$$", "$", "`touch pwned`", "'", `"`, `\`,
	"\n", "\r", "\t", " ", "&&", "|", "#", "~", "*", "{a,b}", "!", "$HOME", "${HF_TOKEN}", ")", "(", "-", "--x", "é", ":",
	"$((1+1))", "<(touch pwned)", ">pwned", "'$(touch pwned)'", `"$(touch pwned)"`,
}

func randomValue(r *rand.Rand) string {
	var b strings.Builder
	for range 1 + r.IntN(6) {
		b.WriteString(hostilePieces[r.IntN(len(hostilePieces))])
	}
	return b.String()
}

// Every value the tree controls reaches the engine as data: random strings
// of quotes, $( ), backticks, line breaks and $(VAR) references in every
// field that the line carries, rendered, expanded as the kubelet does and
// run by bash with the engine stubbed, arrive as the intended arguments,
// and nothing of them runs.
func TestTreeValuesReachTheEngineAsData(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 1))
	for i := range 150 {
		values := make([]string, hostileFields)
		for j := range values {
			values[j] = randomValue(r)
		}
		e := engine.VLLM
		if i%2 == 1 {
			e = engine.SGLang
		}
		checkLine(t, e, values)
	}
	// The cases the issue names.
	checkLine(t, engine.VLLM, []string{"Qwen/Qwen3-8B;touch pwned;:", "main", "chat$(id)", "hermes$(touch pwned)", "x`touch pwned`", "{}", "$(HF_TOKEN)", "--x=$HOME"})
}

func FuzzTreeValuesReachTheEngineAsData(f *testing.F) {
	f.Add("Qwen/Qwen3-8B;touch pwned;:", "chat$(id)", "$(HF_TOKEN)")
	f.Add("'\"`", "$$(MODEL)", "\r\n")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if strings.ContainsRune(a+b+c, 0) {
			return // no argument can hold a NUL
		}
		checkLine(t, engine.VLLM, []string{a, b, c, a + b, b + c, c + a, a, b})
	})
}
