package importer_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/importer"
	"modelsync.dev/modelsync/tree/manifest"
)

// TestSeedVariants imports each hand-written variant the seeds show and
// asserts what it becomes: an exact Model, or raw with the reason naming
// what no Model field expresses. The runbook's newest form (seed 001) is
// TestWhatStaysRaw's tree.
func TestSeedVariants(t *testing.T) {
	tests := []struct {
		dir    string
		models []string
		notes  []string
	}{
		{"000", []string{"qwen3-nairr"}, []string{
			// the external model hosted by SDSC is a Model; the rule whose
			// server is not in the tree stays, and so does the round-robin
			// over it
			"rule qwen3 stays in AIGatewayRoute envoy-ai-gateway-nrp-qwen: it sends to Service qwen-vllm-inference of this namespace, whose server is not in the tree",
			"rule qwen3-combined stays in AIGatewayRoute envoy-ai-gateway-nrp-qwen: combine names Models, and AIServiceBackend envoy-ai-gateway-nrp-qwen is not one",
		}},
		{"000+server", []string{"qwen", "qwen3-combined", "qwen3-nairr"}, nil},
		{"002", nil, []string{
			"Deployment minimax-vllm-inference stays raw: no Model field expresses kind Deployment (a Model generates a StatefulSet whose claim template holds the weights",
		}},
		{"003", nil, []string{
			"Deployment vllm-llama3-8b-instruct stays raw: no Model field expresses kind Deployment",
			"init container lora-adapter-syncer (no Model field",
			"the engine started without bash -c (a Model runs its command line, spec.server.commandLine",
			"the lifecycle hooks of container vllm (no Model field)",
			"env HUGGING_FACE_HUB_TOKEN from Secret hf-token (a Model loads secrets with envFrom: spec.server.configMap",
			"volumes data, adapters, config-volume (a Model mounts its cache claim and /dev/shm)",
			"a nodeSelector (a Model selects nodes by GPU: spec.server.gpuProducts",
			"terminationGracePeriodSeconds (no Model field)",
		}},
		{"004", nil, []string{
			"DynamoGraphDeployment vllm-agg stays raw: NVIDIA Dynamo's operator runs its servers",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			for _, dir := range strings.Split(tt.dir, "+") {
				loaded, err := manifest.Load(t.Context(), manifest.Tree{FS: os.DirFS("../../testdata/variants"), Root: dir})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range loaded {
					objs = append(objs, o.Unstructured)
				}
			}
			res, err := importer.Import(t.Context(), objs, "nrp-llm", importer.Options{Applied: importer.Offline})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(res.Models)
			if !slices.Equal(res.Models, tt.models) {
				t.Errorf("Models %v, want %v; notes:\n%s", res.Models, tt.models, strings.Join(res.Notes, "\n"))
			}
			notes := strings.Join(res.Notes, "\n")
			if len(tt.notes) == 0 && notes != "" {
				t.Errorf("notes, want none:\n%s", notes)
			}
			for _, n := range tt.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes:\n%s\nwant %q", notes, n)
				}
			}
			// Whatever stays raw is written; nothing is lost.
			if len(res.Models) == 0 && res.Raw == 0 {
				t.Error("nothing written")
			}
		})
	}
}
