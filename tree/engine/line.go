// Package engine is the engine's command line: the bash -c line that starts
// vLLM or SGLang from a Model's fields, its environment, and reading the
// fields back from a line that someone wrote. Both directions use one table
// of flags (flags.go).
package engine

import (
	"fmt"
	"strconv"
	"strings"

	"modelsync.dev/modelsync/tree/model"
)

// The engines a Model may name.
const (
	VLLM   = "vllm"
	SGLang = "sglang"
)

// entryPoints are the Python modules that start each engine's API server.
var entryPoints = map[string]string{
	VLLM:   "vllm.entrypoints.openai.api_server",
	SGLang: "sglang.launch_server",
}

// Of names the engine a command line starts ("" for none): by its entry
// point, or vLLM's own `vllm` command.
func Of(line string) string {
	for _, w := range Words(line) {
		for e, entry := range entryPoints {
			if w == entry {
				return e
			}
		}
		if w == VLLM {
			return VLLM
		}
	}
	return ""
}

// Command is the container command that runs a Line: the runbook's
// `bash -c`, with the line as its one argument.
func Command() []string { return []string{"bash", "-c"} }

// Line is the engine invocation run by `bash -c`, as the runbook writes it:
// spec.server.commandLine when set, else the generated flags, the Model's
// args, and preStart before them.
func Line(m *model.Model, r model.Resolved) string {
	s := m.Spec.Server
	if s.CommandLine != "" {
		return s.CommandLine
	}
	a := Args(m, r)
	for _, arg := range s.Args {
		a = append(a, Word(arg))
	}
	line := strings.Join(a, " ")
	if s.PreStart != "" {
		line = s.PreStart + " && " + line
	}
	return line
}

type args []string

// Args is the engine command line modelsync writes, before the Model's own
// args.
func Args(m *model.Model, r model.Resolved) []string {
	e := m.Spec.Server.EngineName()
	a := args{"python3", "-m", entryPoints[e], "--port", strconv.Itoa(model.ServerPort), "--host", "0.0.0.0",
		"--download-dir", model.DownloadDir}
	for _, f := range flags {
		f.writeTo(&a, e, m, r)
	}
	return a
}

// Read sets the Model fields that a line's flags spell (import's reading of
// a live server); flags without a field stay in the line only.
func Read(m *model.Model, line string) {
	e := m.Spec.Server.EngineName()
	words := Flags(Words(line))
	for _, f := range flags {
		f.readFrom(m, e, words)
	}
}

// Doubled names what spec.server.args and env repeat of what modelsync
// generates (a flag such as --tensor-parallel-size, an environment
// variable): the engine would get both, and one silently wins.
func Doubled(m *model.Model) []string {
	s := m.Spec.Server
	if s == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(what string) {
		if !seen[what] {
			seen[what] = true
			out = append(out, what)
		}
	}
	for _, r := range s.ResolvedVariants() {
		flags := map[string]bool{}
		for _, a := range Args(m, r) {
			if strings.HasPrefix(a, "--") {
				flags[strings.SplitN(a, "=", 2)[0]] = true
			}
		}
		for _, a := range s.Args {
			if f := strings.SplitN(a, "=", 2)[0]; flags[f] {
				add("flag " + f)
			}
		}
		env := map[string]bool{}
		for _, e := range generatedEnv(m, r) {
			env[e.Name] = true
		}
		for _, e := range s.Env {
			if env[e.Name] {
				add("environment variable " + e.Name)
			}
		}
	}
	return out
}

// Conflicts lists where spec.server.commandLine disagrees with the Model's
// fields: a flag the fields generate with a value that the line gives
// another value or omits. The fields size the pod and feed validation, so a
// line that says otherwise would run a different server than the one
// checked. Switches (--trust-remote-code, --enable-prefix-caching) are the
// line's own business.
func Conflicts(m *model.Model) []string {
	s := m.Spec.Server
	if s == nil || s.CommandLine == "" {
		return nil
	}
	line := Flags(Words(s.CommandLine))
	var out []string
	seen := map[string]bool{}
	for _, r := range s.ResolvedVariants() {
		generated := Args(m, r)
		want := Flags(Words(strings.Join(generated, " ")))
		for _, w := range generated {
			v, ok := want[w]
			if !strings.HasPrefix(w, "--") || !ok || v == "" || seen[w] {
				continue
			}
			seen[w] = true
			switch got, has := line[w]; {
			case !has:
				out = append(out, fmt.Sprintf("the fields set %s %s, which commandLine omits", w, v))
			case got != v:
				out = append(out, fmt.Sprintf("the fields set %s %s, but commandLine has %s %s", w, v, w, got))
			}
		}
	}
	return out
}

// HasArg reports whether the engine command line of any variant holds flag.
func HasArg(m *model.Model, flag string) bool {
	if m.Spec.Server == nil {
		return false
	}
	for _, r := range m.Spec.Server.ResolvedVariants() {
		for _, f := range strings.Fields(Line(m, r)) {
			if f == flag || strings.HasPrefix(f, flag+"=") {
				return true
			}
		}
	}
	return false
}

// ArgValue is the value of flag on the engine command line of variant r
// (--flag value or --flag=value), or "".
func ArgValue(m *model.Model, r model.Resolved, flag string) string {
	if m.Spec.Server == nil {
		return ""
	}
	words := Words(Line(m, r))
	for i, w := range words {
		if v, ok := strings.CutPrefix(w, flag+"="); ok {
			return v
		}
		if w == flag && i+1 < len(words) {
			return words[i+1]
		}
	}
	return ""
}
