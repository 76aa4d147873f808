package engine

import (
	"strconv"

	"modelsync.dev/modelsync/tree/model"
)

// flag is one Model field as the engines' command lines spell it: the
// generator writes it and import reads it back, from this one table. Rows
// stand in the order the generated line carries them.
type flag struct {
	// words spell the field per engine: the flag, and for a switch the
	// words after it; an engine without an entry has no such flag.
	words map[string][]string
	// off is what a switch writes when it is off.
	off map[string][]string
	// field points at the Model's field (h is the resolved hardware when
	// writing, the server's own when reading): *int, *string, *bool or
	// *model.Decimal.
	field func(m *model.Model, h *model.Hardware) any
	// above: a number is written when it is over this.
	above int
	// quote writes a text value for bash -c; nil is Word. Every value the
	// tree controls goes through one of them: a Model's field is data, never
	// shell code.
	quote func(string) string
	// prefix is written before the flag, per engine.
	prefix map[string][]string
	// unlessEmbedding: an embedding model takes no such flag.
	unlessEmbedding bool
	// write and read replace the generic ones, for fields spelt otherwise.
	write func(a *args, m *model.Model, r model.Resolved)
	read  func(m *model.Model, f map[string]string)
}

func both(vllm, sglang string) map[string][]string {
	return map[string][]string{VLLM: {vllm}, SGLang: {sglang}}
}

func vllmOnly(words ...string) map[string][]string { return map[string][]string{VLLM: words} }

func server(f func(s *model.Server) any) func(*model.Model, *model.Hardware) any {
	return func(m *model.Model, _ *model.Hardware) any { return f(m.Spec.Server) }
}

var flags = []flag{
	{words: both("--model", "--model-path"), field: func(m *model.Model, _ *model.Hardware) any { return &m.Spec.Upstream }},
	{words: both("--revision", "--revision"), field: func(m *model.Model, _ *model.Hardware) any { return &m.Spec.Revision }},
	{write: servedName},
	{words: vllmOnly("--api-server-count"), field: func(_ *model.Model, h *model.Hardware) any { return &h.APIServers }},
	{words: both("--tensor-parallel-size", "--tp-size"), field: func(_ *model.Model, h *model.Hardware) any { return &h.TensorParallel }},
	{words: both("--pipeline-parallel-size", "--pp-size"), field: func(_ *model.Model, h *model.Hardware) any { return &h.PipelineParallel }, above: 1},
	{words: both("--data-parallel-size", "--dp-size"), field: func(_ *model.Model, h *model.Hardware) any { return &h.DataParallel }, above: 1},
	{words: vllmOnly("--decode-context-parallel-size"), field: func(_ *model.Model, h *model.Hardware) any { return &h.DecodeContextParallel }},
	{words: both("--trust-remote-code", "--trust-remote-code"), field: server(func(s *model.Server) any { return &s.TrustRemoteCode })},
	{words: both("--max-model-len", "--context-length"), field: server(func(s *model.Server) any { return &s.MaxModelLen })},
	{
		words: map[string][]string{VLLM: {"--runner", "pooling", "--convert", "embed"}, SGLang: {"--is-embedding"}},
		off:   vllmOnly("--enable-chunked-prefill", "--enable-prefix-caching"),
		field: server(func(s *model.Server) any { return &s.Embedding }),
	},
	{words: vllmOnly("--mamba-cache-mode", "align"), field: server(func(s *model.Server) any { return &s.Mamba })},
	{words: both("--max-num-seqs", "--max-running-requests"), field: server(func(s *model.Server) any { return &s.MaxNumSeqs })},
	{words: both("--max-num-batched-tokens", "--chunked-prefill-size"), field: server(func(s *model.Server) any { return &s.MaxNumBatchedTokens })},
	{words: both("--gpu-memory-utilization", "--mem-fraction-static"), field: server(func(s *model.Server) any { return &s.GPUMemoryUtilization })},
	{words: vllmOnly("--mm-processor-cache-gb"), write: writeMMCache, read: readMMCache},
	{words: both("--hf-overrides", "--json-model-override-args"), field: server(func(s *model.Server) any { return &s.HFOverrides }), quote: Quote},
	{words: vllmOnly(), write: writeOffload},
	{
		words: both("--tool-call-parser", "--tool-call-parser"), field: server(func(s *model.Server) any { return &s.ToolCallParser }),
		prefix: vllmOnly("--enable-auto-tool-choice"), unlessEmbedding: true,
	},
	{words: both("--reasoning-parser", "--reasoning-parser"), field: server(func(s *model.Server) any { return &s.ReasoningParser }), unlessEmbedding: true},
}

// writeTo appends the flag of engine e for Model m on hardware r.
func (f flag) writeTo(a *args, e string, m *model.Model, r model.Resolved) {
	words, ok := f.words[e]
	if f.words != nil && !ok || f.unlessEmbedding && m.Spec.Server.Embedding {
		return
	}
	if f.write != nil {
		f.write(a, m, r)
		return
	}
	switch v := f.field(m, &r.Hardware).(type) {
	case *int:
		if *v > f.above {
			*a = append(*a, words[0], strconv.Itoa(*v))
		}
	case *bool:
		if *v {
			*a = append(*a, words...)
		} else {
			*a = append(*a, f.off[e]...)
		}
	case *string:
		f.text(a, e, words[0], *v)
	case *model.Decimal:
		f.text(a, e, words[0], string(*v))
	}
}

func (f flag) text(a *args, e, name, v string) {
	if v == "" {
		return
	}
	if f.quote != nil {
		v = f.quote(v)
	} else {
		v = Word(v)
	}
	*a = append(*a, f.prefix[e]...)
	*a = append(*a, name, v)
}

// readFrom sets the field from the flags of an engine e line.
func (f flag) readFrom(m *model.Model, e string, flags map[string]string) {
	words, ok := f.words[e]
	if !ok {
		return
	}
	if f.read != nil {
		f.read(m, flags)
		return
	}
	if f.field == nil {
		return
	}
	value, set := flags[words[0]]
	switch v := f.field(m, &m.Spec.Server.Hardware).(type) {
	case *int:
		*v, _ = strconv.Atoi(value)
	case *bool:
		*v = set && (len(words) == 1 || value == words[1])
	case *string:
		if set {
			*v = value
		}
	case *model.Decimal:
		*v = model.Decimal(value)
	}
}

// servedName: behind a pool, the request's model name reaches the engine,
// which must answer to the served name.
func servedName(a *args, m *model.Model, _ model.Resolved) {
	if m.Spec.Pool != nil && m.ServedName() != m.Spec.Upstream {
		*a = append(*a, "--served-model-name", Word(m.ServedName()))
	}
}

func writeMMCache(a *args, m *model.Model, r model.Resolved) {
	s := m.Spec.Server
	if !s.Multimodal {
		return
	}
	*a = append(*a, "--mm-processor-cache-gb", strconv.Itoa(s.MMCacheGB()))
	if r.GPUs > 1 && s.MMCacheGB() > 0 {
		*a = append(*a, "--mm-processor-cache-type", "shm")
	}
}

func readMMCache(m *model.Model, f map[string]string) {
	v, ok := f["--mm-processor-cache-gb"]
	if !ok {
		return
	}
	s := m.Spec.Server
	s.Multimodal = true
	if n, _ := strconv.Atoi(v); n != model.DefaultMMCacheGB {
		s.MMProcessorCacheGB = &n
	}
}

// writeOffload writes vLLM's offload flags.
func writeOffload(a *args, m *model.Model, _ model.Resolved) {
	s := m.Spec.Server
	if !s.Offloading() {
		return
	}
	o := s.Offload
	switch o.Weights {
	case "uva":
		*a = append(*a, "--offload-backend", "uva")
		if o.WeightsGB != nil {
			*a = append(*a, "--cpu-offload-gb", strconv.FormatFloat(*o.WeightsGB, 'f', -1, 64))
		}
	case "prefetch":
		*a = append(*a, "--offload-backend", "prefetch", "--offload-group-size", "1", "--offload-num-in-group", "1", "--offload-prefetch-step", "1")
	}
	if o.KVGB > 0 {
		*a = append(*a, "--kv-offloading-backend", "native", "--kv-offloading-size", strconv.Itoa(o.KVGB))
	}
}
