package model

import (
	"strconv"
	"strings"
)

// commandLine is the engine invocation run by `bash -c`, as the runbook writes it.
func (m *Model) commandLine(r Resolved) string {
	s := m.Spec.Server
	if s.CommandLine != "" {
		return s.CommandLine
	}
	a := m.generatedArgs(r)
	for _, arg := range s.Args {
		a = append(a, shellWord(arg))
	}
	line := strings.Join(a, " ")
	if s.PreStart != "" {
		line = s.PreStart + " && " + line
	}
	return line
}

// generatedArgs is the engine command line modelsync writes, before the
// Model's own args.
func (m *Model) generatedArgs(r Resolved) args {
	if m.Spec.Server.engine() == "sglang" {
		return sglangArgs(m, r)
	}
	return vllmArgs(m, r)
}

// Doubled names what spec.server.args and env repeat of what modelsync
// generates (a flag such as --tensor-parallel-size, an environment
// variable): the engine would get both, and one silently wins.
func (m *Model) Doubled() []string {
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
		for _, a := range m.generatedArgs(r) {
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
		generated := m.env(r)
		for _, e := range generated[:len(generated)-len(s.Env)] {
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

type args []string

func (a *args) add(flag string, v ...string) { *a = append(*a, append([]string{flag}, v...)...) }

func (a *args) num(flag string, n int) {
	if n > 0 {
		a.add(flag, strconv.Itoa(n))
	}
}

func (a *args) str(flag, v string) {
	if v != "" {
		a.add(flag, v)
	}
}

func (a *args) flag(flag string, on bool) {
	if on {
		a.add(flag)
	}
}

func vllmArgs(m *Model, r Resolved) args {
	s := m.Spec.Server
	a := args{"python3", "-m", "vllm.entrypoints.openai.api_server", "--port", strconv.Itoa(ServerPort), "--host", "0.0.0.0",
		"--download-dir", "/workspace/.cache/huggingface/hub", "--model", m.Spec.Upstream}
	if m.Spec.Revision != "" {
		a.add("--revision", shellWord(m.Spec.Revision))
	}
	if m.Spec.Pool != nil && m.ServedName() != m.Spec.Upstream {
		// The pool passes the request's model name through: the engine
		// must answer to the served name.
		a.add("--served-model-name", m.ServedName())
	}
	a.num("--api-server-count", r.APIServers)
	a.num("--tensor-parallel-size", r.TensorParallel)
	if r.PipelineParallel > 1 {
		a.num("--pipeline-parallel-size", r.PipelineParallel)
	}
	if r.DataParallel > 1 {
		a.num("--data-parallel-size", r.DataParallel)
	}
	a.num("--decode-context-parallel-size", r.DecodeContextParallel)
	a.flag("--trust-remote-code", s.TrustRemoteCode)
	a.num("--max-model-len", s.MaxModelLen)
	if s.Embedding {
		a.add("--runner", "pooling")
		a.add("--convert", "embed")
	} else {
		a.add("--enable-chunked-prefill")
		a.add("--enable-prefix-caching")
	}
	if s.Mamba {
		a.add("--mamba-cache-mode", "align")
	}
	a.num("--max-num-seqs", s.MaxNumSeqs)
	a.num("--max-num-batched-tokens", s.MaxNumBatchedTokens)
	a.str("--gpu-memory-utilization", string(s.GPUMemoryUtilization))
	if s.Multimodal {
		a.add("--mm-processor-cache-gb", strconv.Itoa(s.mmCacheGB()))
		if r.GPUs > 1 && s.mmCacheGB() > 0 {
			a.add("--mm-processor-cache-type", "shm")
		}
	}
	if s.HFOverrides != "" {
		a.add("--hf-overrides", shellQuote(s.HFOverrides))
	}
	a.offload(s)
	if !s.Embedding && s.ToolCallParser != "" {
		a.add("--enable-auto-tool-choice")
		a.add("--tool-call-parser", s.ToolCallParser)
	}
	if !s.Embedding {
		a.str("--reasoning-parser", s.ReasoningParser)
	}
	return a
}

func sglangArgs(m *Model, r Resolved) args {
	s := m.Spec.Server
	a := args{"python3", "-m", "sglang.launch_server", "--port", strconv.Itoa(ServerPort), "--host", "0.0.0.0",
		"--download-dir", "/workspace/.cache/huggingface/hub", "--model-path", m.Spec.Upstream}
	if m.Spec.Revision != "" {
		a.add("--revision", shellWord(m.Spec.Revision))
	}
	if m.Spec.Pool != nil && m.ServedName() != m.Spec.Upstream {
		a.add("--served-model-name", m.ServedName())
	}
	a.num("--tp-size", r.TensorParallel)
	if r.PipelineParallel > 1 {
		a.num("--pp-size", r.PipelineParallel)
	}
	if r.DataParallel > 1 {
		a.num("--dp-size", r.DataParallel)
	}
	a.flag("--trust-remote-code", s.TrustRemoteCode)
	a.num("--context-length", s.MaxModelLen)
	a.flag("--is-embedding", s.Embedding)
	a.num("--max-running-requests", s.MaxNumSeqs)
	a.num("--chunked-prefill-size", s.MaxNumBatchedTokens)
	a.str("--mem-fraction-static", string(s.GPUMemoryUtilization))
	if s.HFOverrides != "" {
		a.add("--json-model-override-args", shellQuote(s.HFOverrides))
	}
	if !s.Embedding {
		a.str("--tool-call-parser", s.ToolCallParser)
		a.str("--reasoning-parser", s.ReasoningParser)
	}
	return a
}

// shellWord is one argument as bash -c reads it back: as written when it
// holds only characters the shell takes literally, else single-quoted, so
// that `args: [--compilation-config, '{"cudagraph_mode": "PIECEWISE"}']`
// reaches the engine as two arguments, not five broken words.
func shellWord(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@%+") == "" {
		return v
	}
	return shellQuote(v)
}

// shellQuote wraps v in single quotes for bash -c.
func shellQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// HasArg reports whether the engine command line of any variant holds flag.
func (m *Model) HasArg(flag string) bool {
	if m.Spec.Server == nil {
		return false
	}
	for _, r := range m.Spec.Server.ResolvedVariants() {
		for _, f := range strings.Fields(m.commandLine(r)) {
			if f == flag || strings.HasPrefix(f, flag+"=") {
				return true
			}
		}
	}
	return false
}

// ArgValue is the value of flag on the engine command line of variant r
// (--flag value or --flag=value), or "".
func (m *Model) ArgValue(r Resolved, flag string) string {
	if m.Spec.Server == nil {
		return ""
	}
	words := ShellWords(m.commandLine(r))
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
