package validation

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/manifest"

	"encoding/json"
	"fmt"
	"slices"

	"modelsync.dev/modelsync/tree/model"
)

// checkModels applies the runbook's parallelism advice to every served model.
func checkModels(c *checker) {
	for i := range c.in.Models {
		m := &c.in.Models[i]
		c.checkRanges(m)
		c.checkUpdate(m)
		s := m.Spec.Server
		if s == nil {
			continue
		}
		obj := "Model " + m.Name()
		for _, r := range s.ResolvedVariants() {
			c.checkParallelism(m, r, obj)
		}
		if engine.HasArg(m, "--enforce-eager") {
			c.add(Warning, "enforce-eager", serverField(m, "", "args"), obj, "--enforce-eager disables CUDA graphs and cuts token throughput to 1/4–1/6",
				`use only as a last resort; try --compilation-config '{"cudagraph_mode": "PIECEWISE"}' or a lower --max-num-seqs first`)
		}
		c.checkSGLang(m, obj)
		for _, d := range engine.Doubled(m) {
			c.add(Error, "doubled-setting", serverField(m, "", doubledField(d)), obj, fmt.Sprintf("spec.server sets %s, which modelsync generates from the Model's fields", d),
				"remove it from args/env and set the Model field instead (tensorParallel, maxModelLen, …), so the engine gets one value")
		}
		c.checkOffload(m, obj)
		for _, d := range engine.Conflicts(m) {
			c.add(Error, "command-line-conflict", m.Origin.At("spec", "server", "commandLine"), obj, d,
				"make the Model's fields (tensorParallel, maxModelLen, …) say what the line runs, or drop commandLine to generate it")
		}
		switch {
		case s.Nodes < 0:
			c.add(Error, "model-range", m.Origin.At("spec", "server", "nodes"), obj, fmt.Sprintf("server.nodes %d is negative", s.Nodes), "set nodes to the pods one instance spans, or leave it out for one")
		case s.MultiNode() && len(s.Variants) > 0:
			c.add(Error, "multi-node-variants", m.Origin.At("spec", "server", "nodes"), obj, "a multi-node model cannot have variants",
				"give the multi-node model one hardware shape, or make the variants separate Models combined with combine")
		case s.MultiNode() && s.CommandLine != "":
			c.add(Error, "command-line-conflict", m.Origin.At("spec", "server", "commandLine"), obj, "commandLine cannot be combined with nodes: the leader and workers get generated lines",
				"drop commandLine and express the flags as fields and args")
		}
		if m := s.Mounts; m != nil && !slices.Equal(m, []string{"shm", "cache"}) && !slices.Equal(m, []string{"cache", "shm"}) {
			c.add(Error, "model-range", c.in.Models[i].Origin.At("spec", "server", "mounts"), obj, fmt.Sprintf("mounts %v is not an order of the two mounts", m),
				"write [shm, cache] or [cache, shm]")
		}
		if s.CommandLine != "" && (len(s.Args) > 0 || s.PreStart != "") {
			c.add(Error, "command-line-conflict", m.Origin.At("spec", "server", "commandLine"), obj, "commandLine is the whole engine line, but args or preStart are set too",
				"put the args and the preStart command into commandLine, or drop commandLine")
		}
		c.checkNames(m, obj)
		if s.HFOverrides != "" && !json.Valid([]byte(s.HFOverrides)) {
			c.add(Error, "hf-overrides-json", serverField(m, "", "hfOverrides"), obj, "hfOverrides is not valid JSON; the engine would refuse to start",
				`write it as one JSON object, for example hfOverrides: '{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}'`)
		}
		if s.Embedding && (s.ToolCallParser != "" || s.ReasoningParser != "" || engine.HasArg(m, "--tool-call-parser") || engine.HasArg(m, "--reasoning-parser")) {
			c.add(Error, "embedding-parsers", serverField(m, "", "toolCallParser", "reasoningParser", "args"), obj, "an embedding model takes no tool-call or reasoning parser",
				"remove toolCallParser/reasoningParser; embedding models run with --runner pooling --convert embed")
		}
	}
}

func (c *checker) checkParallelism(m *model.Model, r model.Resolved, obj string) {
	s := m.Spec.Server
	where := ""
	if r.Name != "" {
		where = " (variant " + r.Name + ")"
	}
	tp, pp, dp := r.TensorParallel, r.PipelineParallel, r.DataParallel
	switch nodes := max(1, s.Nodes); {
	case nodes > 1 && tp*pp*dp != r.GPUs*nodes:
		c.add(Error, "parallelism-gpus", serverField(m, r.Name, "tensorParallel", "pipelineParallel", "nodes", "gpus"), obj,
			fmt.Sprintf("tensor %d × pipeline %d × data %d = %d, but %d pods of %d GPUs hold %d%s", tp, pp, dp, tp*pp*dp, nodes, r.GPUs, r.GPUs*nodes, where),
			"make the product of the parallel sizes equal GPUs per pod × nodes (the runbook: tensor parallel within a pod, pipeline parallel across pods)")
	case nodes == 1 && tp*pp*dp != r.GPUs:
		c.add(Error, "parallelism-gpus", serverField(m, r.Name, "tensorParallel", "pipelineParallel", "dataParallel", "gpus"), obj,
			fmt.Sprintf("tensor %d × pipeline %d × data %d = %d, but the pod has %d GPUs%s", tp, pp, dp, tp*pp*dp, r.GPUs, where),
			"make the product of the parallel sizes equal the GPUs per pod, or set nodes to spread the model over several pods")
	}
	if s.AttentionHeads > 0 && s.AttentionHeads%tp != 0 {
		c.add(Error, "parallelism-heads", serverField(m, r.Name, "tensorParallel", "gpus"), obj,
			fmt.Sprintf("tensor-parallel %d does not divide the %d attention heads%s", tp, s.AttentionHeads, where),
			"choose a tensor-parallel size that divides num_attention_heads, and use pipeline parallelism for the remaining GPUs")
	}
	kv := s.KVHeads
	if s.MLA {
		kv = 1 // multi-head latent attention: vLLM sees one KV head
	}
	if kv <= 0 {
		return
	}
	if !s.MLA && ((tp <= kv && kv%tp != 0) || (tp > kv && tp%kv != 0)) {
		c.add(Error, "parallelism-kv-heads", serverField(m, r.Name, "tensorParallel", "gpus"), obj,
			fmt.Sprintf("tensor-parallel %d does not fit the %d KV heads%s: one must divide the other", tp, kv, where),
			"choose a tensor-parallel size that divides num_key_value_heads or is a multiple of it")
		return
	}
	if tp > kv && r.DecodeContextParallel*kv != tp {
		heads := fmt.Sprintf("%d KV heads", kv)
		if s.MLA {
			heads = "1 KV head (MLA)"
		}
		c.add(Warning, "kv-cache-duplication", serverField(m, r.Name, "decodeContextParallel", "tensorParallel", "gpus"), obj,
			fmt.Sprintf("tensor-parallel %d exceeds the model's %s%s: the KV cache is duplicated %d times", tp, heads, where, tp/kv),
			fmt.Sprintf("set decodeContextParallel: %d (--decode-context-parallel-size), or tensor-parallel %d with pipeline-parallel for the rest", tp/kv, kv))
	}
}

// checkRanges: Decode has checked every number a Model gives against its
// range (model.Ranges); what is left is the one a served model must give.
func (c *checker) checkRanges(m *model.Model) {
	if s := m.Spec.Server; s != nil && s.WeightsGi == 0 && m.Spec.Revision == "" {
		c.add(Error, "model-range", serverField(m, "", "weightsGi"), "Model "+m.Name(), "server.weightsGi is not set",
			"give the weight size hf-mem reports, in GiB")
	}
}

// checkSGLang refuses the Model fields that only vLLM has: modelsync would
// count them in CPU and memory while SGLang ignores them. (maxNumBatchedTokens
// maps to SGLang's --chunked-prefill-size.)
func (c *checker) checkSGLang(m *model.Model, obj string) {
	s := m.Spec.Server
	if s.Engine != "sglang" {
		return
	}
	var unsupported []string
	for _, r := range s.ResolvedVariants() {
		if r.APIServers > 1 {
			unsupported = append(unsupported, "apiServers")
			break
		}
	}
	if s.Multimodal {
		unsupported = append(unsupported, "multimodal")
	}
	if s.MMProcessorCacheGB != nil {
		unsupported = append(unsupported, "mmProcessorCacheGB")
	}
	if s.Mamba {
		unsupported = append(unsupported, "mamba")
	}
	if s.Offload != nil {
		unsupported = append(unsupported, "offload")
	}
	for _, f := range unsupported {
		c.add(Error, "sglang-unsupported", serverField(m, "", f), obj, fmt.Sprintf("spec.server.%s has no SGLang equivalent; SGLang would ignore it while the pod is sized for it", f),
			"remove it, or serve the model with engine: vllm")
	}
}

// checkOffload: a weight backend vLLM knows, a size for uva, sizes that fit
// the weights.
func (c *checker) checkOffload(m *model.Model, obj string) {
	o := m.Spec.Server.Offload
	if o == nil {
		return
	}
	at := m.Origin.At("spec", "server", "offload")
	switch {
	case o.Weights != "" && o.Weights != "uva" && o.Weights != "prefetch":
		c.add(Error, "offload", at, obj, fmt.Sprintf("offload.weights %q is not a weight offload backend", o.Weights), "write uva (part of the weights, with weightsGB) or prefetch (every layer)")
	case o.Weights == "uva" && o.WeightsGB == nil:
		c.add(Error, "offload", at, obj, "offload.weights uva needs weightsGB, the GiB of weights to move to CPU RAM (--cpu-offload-gb)", "set offload.weightsGB")
	case o.WeightsGB != nil && o.Weights == "":
		c.add(Error, "offload", at, obj, "offload.weightsGB is set without offload.weights", "set offload.weights to uva or prefetch")
	case o.WeightsGB != nil && (*o.WeightsGB <= 0 || *o.WeightsGB > m.Spec.Server.WeightsGi):
		c.add(Error, "offload", at, obj, fmt.Sprintf("offload.weightsGB %g is outside (0, weightsGi %g]", *o.WeightsGB, m.Spec.Server.WeightsGi), "offload at most the model's weights")
	case o.KVGB < 0:
		c.add(Error, "offload", at, obj, fmt.Sprintf("offload.kvGB %d is negative", o.KVGB), "give the GiB of KV cache to keep in CPU RAM")
	case !m.Spec.Server.Offloading():
		c.add(Warning, "offload", at, obj, "offload sets neither weights nor kvGB, so nothing is offloaded", "remove offload, or set weights or kvGB")
	}
}

// serverField is where the first of fields that is written stands: in the
// named variant when it sets it, else in spec.server; the Model's own line
// when none is written (a derived value).
func serverField(m *model.Model, variant string, fields ...string) manifest.Origin {
	if s := m.Spec.Server; s != nil && variant != "" {
		for i, v := range s.Variants {
			if v.Name != variant {
				continue
			}
			for _, f := range fields {
				if at, ok := m.Origin.Find("spec", "server", "variants", strconv.Itoa(i), f); ok {
					return at
				}
			}
		}
	}
	for _, f := range fields {
		if at, ok := m.Origin.Find("spec", "server", f); ok {
			return at
		}
	}
	return m.Origin.At()
}

// doubledField is the field a doubled setting was written in.
func doubledField(d string) string {
	if strings.HasPrefix(d, "environment variable") {
		return "env"
	}
	return "args"
}

// Grammars of the names a served Model hands the engine. The line quotes
// them anyway (engine.Word); these catch a typo, or a name that is not one,
// before a pod crash-loops on it.
var (
	// hubRepo is a Hugging Face repository id (ORG/NAME or NAME) or an
	// absolute path to the files.
	hubRepo = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$|^/[A-Za-z0-9._/-]+$`)
	// parserName is a tool-call or reasoning parser as the engines name them
	// (hermes, llama3_json, deepseek_r1, qwen3_coder, glm45).
	parserName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	// servedName is a name clients ask for: the x-ai-eg-model header value.
	servedName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,252}$`)
)

func (c *checker) checkNames(m *model.Model, obj string) {
	s := m.Spec.Server
	for _, f := range []struct {
		path    []string
		value   string
		grammar *regexp.Regexp
		what    string
	}{
		{[]string{"spec", "upstream"}, m.Spec.Upstream, hubRepo, "a Hugging Face repository id (ORG/NAME) or an absolute path"},
		{[]string{"spec", "served"}, m.Spec.Served, servedName, "a model name: letters, digits and . _ : / @ + -"},
		{[]string{"spec", "server", "toolCallParser"}, s.ToolCallParser, parserName, "a parser name as the engine lists it (hermes, llama3_json)"},
		{[]string{"spec", "server", "reasoningParser"}, s.ReasoningParser, parserName, "a parser name as the engine lists it (deepseek_r1, qwen3)"},
	} {
		if f.value != "" && !f.grammar.MatchString(f.value) {
			c.add(Error, "model-name", m.Origin.At(f.path...), obj, fmt.Sprintf("%s %q is not %s", f.path[len(f.path)-1], f.value, f.what),
				"write it as the engine expects it; modelsync passes it to the engine as one argument")
		}
	}
}

// checkUpdate checks how the Model's updates run: spec.update one of the
// modes, spec.server.startDeadline a duration from a minute to a day.
func (c *checker) checkUpdate(m *model.Model) {
	obj := "Model " + m.Name()
	switch m.Spec.Update {
	case "", model.UpdateAuto, model.UpdateSurge, model.UpdateRecreate:
	default:
		c.add(Error, "model-range", m.Origin.At("spec", "update"), obj, fmt.Sprintf("update %q is not a way to update a model", m.Spec.Update),
			"write auto (a surge when there is room, else a roll or an approved recreate), surge or recreate")
	}
	if m.Spec.Update != "" && m.Spec.Update != model.UpdateAuto && m.Spec.Server == nil {
		c.add(Error, "model-range", m.Origin.At("spec", "update"), obj, "update applies to a model modelsync runs (spec.server)", "remove update")
	}
	if s := m.Spec.Server; s != nil && s.StartDeadline != "" {
		d, err := time.ParseDuration(s.StartDeadline)
		if err != nil || d < time.Minute || d > 24*time.Hour {
			c.add(Error, "model-range", m.Origin.At("spec", "server", "startDeadline"), obj, fmt.Sprintf("startDeadline %q is not a duration from 1m to 24h", s.StartDeadline),
				"write how long a new revision may take to start, such as 40m or 2h")
		}
	}
}
