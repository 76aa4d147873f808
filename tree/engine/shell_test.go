package engine

import (
	"slices"
	"testing"

	"modelsync.dev/modelsync/tree/model"
)

func TestWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"python3 -m vllm --port 5000\n", []string{"python3", "-m", "vllm", "--port", "5000"}},
		{`uv pip install --system 'qwen-vl-utils>=0.0.14' && vllm`, []string{"uv", "pip", "install", "--system", "qwen-vl-utils>=0.0.14", "&&", "vllm"}},
		{`--hf-overrides '{"rope_scaling": {"factor": 4.0}}'`, []string{"--hf-overrides", `{"rope_scaling": {"factor": 4.0}}`}},
		{`--x "a \"b\" c" it\'s`, []string{"--x", `a "b" c`, "it's"}},
		{`a \` + "\n" + `b`, []string{"a", "b"}},
	}
	for _, tt := range tests {
		if got := Words(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("Words(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// TestConflicts: a commandLine must run what the fields describe.
func TestConflicts(t *testing.T) {
	base := func(line string) *model.Model {
		return &model.Model{Metadata: model.Metadata{Name: "m"}, Spec: model.Spec{Upstream: "org/m", Server: &model.Server{
			Image: "i", Hardware: model.Hardware{GPUs: 4, TensorParallel: 4}, MaxModelLen: 8192, CommandLine: line,
		}}}
	}
	const ok = "python3 -m vllm.entrypoints.openai.api_server --host 0.0.0.0 --port 5000 --download-dir /workspace/.cache/huggingface/hub --model org/m --tensor-parallel-size 4 --api-server-count 1 --max-model-len 8192 --enable-prefix-caching"
	tests := []struct {
		name, line string
		want       []string
	}{
		{"agrees, in another order and with switches of its own", ok, nil},
		{"another tensor-parallel size", ok + " --tensor-parallel-size=8", []string{"the fields set --tensor-parallel-size 4, but commandLine has --tensor-parallel-size 8"}},
		{"omits the context length", "python3 -m vllm.entrypoints.openai.api_server --host 0.0.0.0 --port 5000 --download-dir /workspace/.cache/huggingface/hub --model org/m --tensor-parallel-size 4 --api-server-count 1",
			[]string{"the fields set --max-model-len 8192, which commandLine omits"}},
		{"no commandLine", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Conflicts(base(tt.line)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
