package validation_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/validation"
)

const route = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: r
spec:
  parentRefs:
  - name: gw
`

const backends = `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: b
spec:
  endpoints:
  - fqdn: {hostname: b.example, port: 5000}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: b
spec:
  schema: {name: OpenAI}
  backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}
`

// served returns a Model file served here with the given server fields.
func served(name, serverFields string) string {
	return fmt.Sprintf(`apiVersion: modelsync.dev/v1alpha1
kind: Model
metadata:
  name: %s
spec:
  upstream: org/%s
  server:
    image: vllm/vllm-openai:v0.11.2
    weightsGi: 16
    paramsB: 8
%s`, name, name, serverFields)
}

func rule(value string, backends ...string) string {
	s := fmt.Sprintf("  - name: %s\n    matches:\n    - headers:\n      - {name: x-ai-eg-model, value: %s}\n    backendRefs:\n", value, value)
	for _, b := range backends {
		s += "    - name: " + b + "\n"
	}
	return s
}

// The tree as files and objects: YAML, kinds, names, identities and
// namespaces.
func TestTreeRules(t *testing.T) {
	checkRules(t, []ruleCase{
		{
			name:  "yaml syntax",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [y\n"},
			rule:  "yaml", severity: validation.Error, origin: "models-config/a.yaml:9", message: "invalid YAML",
		},
		{
			name:  "unknown kind offline: a warning saying how to declare it",
			files: map[string]string{"a.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"},
			rule:  "unknown-kind", severity: validation.Warning, origin: "models-config/a.yaml:1", message: "kind Widget in example.com/v1 is not known offline",
		},
		{
			name: "duplicate identity across files",
			files: map[string]string{
				"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
				"b.yaml": "# comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
			},
			rule: "duplicate-object", severity: validation.Error, origin: "models-config/b.yaml:2",
			message: "defined more than once: models-config/a.yaml:1, models-config/b.yaml:2",
		},
		{
			name:  "invalid Kubernetes name",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"},
			rule:  "invalid-name", severity: validation.Error, origin: "models-config/a.yaml:1", message: `invalid name "Bad_Name"`,
		},
		{
			name:  "deprecated v1alpha1",
			files: map[string]string{"b.yaml": strings.Replace(backends, "v1beta1", "v1alpha1", 1)},
			rule:  "deprecated-api", severity: validation.Warning, origin: "models-config/b.yaml:9", message: "v1alpha1 is deprecated",
		},
		{
			name:  "misspelt Model field",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    tensorParalel: 1\n")},
			rule:  "model-spec", severity: validation.Error, origin: "models-config/m.yaml:12", message: `unknown field "spec.server.tensorParalel"`,
		},
		{
			name:  "object in another namespace",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: other\n"},
			rule:  "wrong-namespace", severity: validation.Error, origin: "models-config/a.yaml:1", message: "object is in namespace other, but the target is nrp-llm",
		},
		{
			name:  "Model in another namespace",
			files: map[string]string{"m.yaml": "apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: m\n  namespace: other\nspec:\n  external: {hostname: h, port: 80}\n"},
			rule:  "wrong-namespace", severity: validation.Error, origin: "models-config/m.yaml:5", message: "Model is in namespace other, but the target is nrp-llm",
		},
	})
}

// The gateway objects: references, limits, round-robin policies and
// InferencePool backends.
func TestGatewayRules(t *testing.T) {
	checkRules(t, []ruleCase{
		{
			name:  "rule points at a missing AIServiceBackend",
			files: map[string]string{"r.yaml": route + "  rules:\n" + rule("m", "missing")},
			rule:  "dangling-reference", severity: validation.Error, origin: "models-config/r.yaml:1",
			message: "rule m points at AIServiceBackend missing, which is not in the tree",
		},
		{
			name: "AIServiceBackend points at a missing Backend",
			files: map[string]string{"s.yaml": "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata:\n  name: s\nspec:\n" +
				"  schema: {name: OpenAI}\n  backendRef: {name: nope, kind: Backend, group: gateway.envoyproxy.io}\n"},
			rule: "dangling-reference", severity: validation.Error, origin: "models-config/s.yaml:1",
			message: "backendRef points at Backend nope",
		},
		{
			name: "security policy targets a missing backend",
			files: map[string]string{"p.yaml": "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata:\n  name: k\nspec:\n" +
				"  type: APIKey\n  apiKey: {secretRef: {name: s}}\n  targetRefs:\n  - {group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: gone}\n"},
			rule: "dangling-reference", severity: validation.Error, origin: "models-config/p.yaml:1",
			message: "targetRef points at AIServiceBackend gone",
		},
		{
			name: "traffic policy targets a missing route",
			files: map[string]string{"t.yaml": "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata:\n  name: t\nspec:\n" +
				"  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: gone}\n"},
			rule: "dangling-reference", severity: validation.Error, origin: "models-config/t.yaml:1",
			message: "targetRef points at HTTPRoute gone",
		},
		{
			name:  "round-robin rule without a traffic policy",
			files: map[string]string{"b.yaml": backends + "---\napiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata:\n  name: c\nspec:\n  schema: {name: OpenAI}\n  backendRef: {name: b, kind: Backend, group: gateway.envoyproxy.io}\n", "r.yaml": route + "  rules:\n" + rule("m", "b", "c")},
			rule:  "round-robin-without-policy", severity: validation.Error, origin: "models-config/r.yaml:1",
			message: "no BackendTrafficPolicy targets HTTPRoute r",
		},
		{
			name:  "model name routed twice",
			files: map[string]string{"b.yaml": backends, "r.yaml": route + "  rules:\n" + rule("m", "b") + rule("m", "b")},
			rule:  "duplicate-model-name", severity: validation.Error, origin: "models-config/r.yaml:1",
			message: `model name "m" is routed twice`,
		},
		{
			name:  "more than 15 rules in a hand-written route",
			files: map[string]string{"b.yaml": backends, "r.yaml": route + "  rules:\n" + manyRules(16)},
			rule:  "too-many-rules", severity: validation.Error, origin: "models-config/r.yaml:1",
			message: "16 rules; AI Gateway v1.1 allows at most 15",
		},
		{
			name:  "more than 16 backendRefs in a rule",
			files: map[string]string{"b.yaml": backends, "r.yaml": route + "  rules:\n" + rule("m", strings.Split(strings.Repeat("b,", 17), ",")[:17]...)},
			rule:  "too-many-backends", severity: validation.Error, origin: "models-config/r.yaml:1",
			message: "rule m has 17 backendRefs",
		},
		{
			name:  "two security policies on one backend",
			files: map[string]string{"b.yaml": backends, "p.yaml": policy("k1") + "---\n" + policy("k2")},
			rule:  "backend-two-security-policies", severity: validation.Error, origin: "models-config/p.yaml:11",
			message: "b is targeted by BackendSecurityPolicies k1 and k2",
		},
		{
			name:  "a rule sending to two pools",
			files: map[string]string{"p.yaml": pools, "r.yaml": route + "  rules:\n" + poolRule("m", "p1", "p2")},
			rule:  "pool-reference", severity: validation.Error, origin: "models-config/r.yaml:1", message: "rule m sends to 2 InferencePools; a rule holds one",
		},
		{
			name:  "a rule mixing a pool with an AIServiceBackend",
			files: map[string]string{"p.yaml": pools, "b.yaml": backends, "r.yaml": route + "  rules:\n" + poolRule("m", "p1") + "    - name: b\n"},
			rule:  "pool-reference", severity: validation.Error, origin: "models-config/r.yaml:1", message: "rule m mixes an InferencePool with AIServiceBackends",
		},
		{
			name:  "a rule naming the experimental pool group",
			files: map[string]string{"r.yaml": route + "  rules:\n" + strings.Replace(poolRule("m", "p1"), "inference.networking.k8s.io", "inference.networking.x-k8s.io", 1)},
			rule:  "pool-reference", severity: validation.Error, origin: "models-config/r.yaml:1", message: "a rule can only name an InferencePool of inference.networking.k8s.io",
		},
		{
			name:  "a rule naming a pool that is not in the tree",
			files: map[string]string{"r.yaml": route + "  rules:\n" + poolRule("m", "nope")},
			rule:  "dangling-reference", severity: validation.Error, origin: "models-config/r.yaml:1", message: "rule m points at InferencePool nope, which is not in the tree",
		},
		{
			name:  "a rule with group but no kind",
			files: map[string]string{"r.yaml": route + "  rules:\n" + rule("m") + "    - {name: p1, group: inference.networking.k8s.io}\n"},
			rule:  "pool-reference", severity: validation.Error, origin: "models-config/r.yaml:1", message: "sets only one of group and kind",
		},
		{
			name: "a combined model over a pooled one",
			files: map[string]string{"r.yaml": route, "a.yaml": served("a", "    gpus: 1\n") + "  pool: {}\n",
				"c.yaml": "apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: c\nspec:\n  combine: [a]\n"},
			rule: "model", severity: validation.Error, origin: "models-config/c.yaml:1", message: `combines "a", which is served through an InferencePool`,
		},
	})
}

// How a served model runs: engine flags and environment, parallelism,
// KV cache, offloading, and the workloads written by hand.
func TestServerRules(t *testing.T) {
	checkRules(t, []ruleCase{
		{
			name:  "args repeat a generated flag",
			files: map[string]string{"m.yaml": served("m", "    gpus: 4\n    args: [--tensor-parallel-size, \"8\"]\n")},
			rule:  "doubled-setting", severity: validation.Error, origin: "models-config/m.yaml:12",
			message: "spec.server sets flag --tensor-parallel-size, which modelsync generates from the Model's fields",
		},
		{
			name:  "env repeats a generated variable",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    hfOverrides: '{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}'\n    env: [{name: VLLM_ALLOW_LONG_MAX_MODEL_LEN, value: \"0\"}]\n")},
			rule:  "doubled-setting", severity: validation.Error, origin: "models-config/m.yaml:13",
			message: "spec.server sets environment variable VLLM_ALLOW_LONG_MAX_MODEL_LEN, which modelsync generates from the Model's fields",
		},
		{
			name:  "weights that would overflow the memory quantities",
			files: map[string]string{"m.yaml": strings.Replace(served("m", "    gpus: 1\n"), "weightsGi: ", "weightsGi: 1e308 #", 1)},
			rule:  "model-spec", severity: validation.Error, origin: "models-config/m.yaml:9",
			message: "spec.server.weightsGi 1e+308 is out of range (0, 65536]",
		},
		{
			name:  "a revision that is not a git revision",
			files: map[string]string{"m.yaml": strings.Replace(served("m", "    gpus: 1\n"), "  upstream: org/m\n", "  upstream: org/m\n  revision: 'main; curl evil'\n", 1)},
			rule:  "model-spec", severity: validation.Error, origin: "models-config/m.yaml:1",
			message: `spec.revision "main; curl evil": give a commit, branch or tag of the upstream repository (letters, digits, . _ - /)`,
		},
		{
			name:  "a pinned Model not in the lock",
			files: map[string]string{"m.yaml": strings.Replace(served("m", "    gpus: 1\n"), "  upstream: org/m\n", "  upstream: org/m\n  revision: 0123456789abcdef0123456789abcdef01234567\n", 1)},
			rule:  "model-lock", severity: validation.Error, origin: "models-config/m.yaml:7",
			message: "org/m@0123456789abcdef0123456789abcdef01234567 is not in modelsync.lock",
		},
		{
			name:  "SGLang with a vLLM-only field",
			files: map[string]string{"m.yaml": served("m", "    engine: sglang\n    gpus: 1\n    apiServers: 4\n")},
			rule:  "sglang-unsupported", severity: validation.Error, origin: "models-config/m.yaml:13",
			message: "spec.server.apiServers has no SGLang equivalent; SGLang would ignore it while the pod is sized for it",
		},
		{
			name:  "an update mode that does not exist",
			files: map[string]string{"m.yaml": strings.Replace(served("m", "    gpus: 1\n"), "  upstream: org/m\n", "  upstream: org/m\n  update: blue-green\n", 1)},
			rule:  "model-range", severity: validation.Error, origin: "models-config/m.yaml:7",
			message: `update "blue-green" is not a way to update a model`,
		},
		{
			name:  "a start deadline out of range",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    startDeadline: 30s\n")},
			rule:  "model-range", severity: validation.Error, origin: "models-config/m.yaml:12",
			message: `startDeadline "30s" is not a duration from 1m to 24h`,
		},
		{
			name:  "hfOverrides that is not JSON",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    hfOverrides: '{rope_scaling: yarn'\n")},
			rule:  "hf-overrides-json", severity: validation.Error, origin: "models-config/m.yaml:12",
			message: "hfOverrides is not valid JSON; the engine would refuse to start",
		},
		{
			name:  "parallel sizes do not multiply to the GPUs",
			files: map[string]string{"m.yaml": served("m", "    gpus: 4\n    tensorParallel: 2\n")},
			rule:  "parallelism-gpus", severity: validation.Error, origin: "models-config/m.yaml:12",
			message: "tensor 2 × pipeline 1 × data 1 = 2, but the pod has 4 GPUs",
		},
		{
			name:  "tensor parallel does not divide the attention heads",
			files: map[string]string{"m.yaml": served("m", "    gpus: 3\n    attentionHeads: 32\n")},
			rule:  "parallelism-heads", severity: validation.Error, origin: "models-config/m.yaml:11",
			message: "tensor-parallel 3 does not divide the 32 attention heads",
		},
		{
			name:  "tensor parallel does not fit the KV heads",
			files: map[string]string{"m.yaml": served("m", "    gpus: 4\n    kvHeads: 6\n")},
			rule:  "parallelism-kv-heads", severity: validation.Error, origin: "models-config/m.yaml:11",
			message: "tensor-parallel 4 does not fit the 6 KV heads",
		},
		{
			name:  "KV cache duplication",
			files: map[string]string{"m.yaml": served("m", "    gpus: 8\n    kvHeads: 2\n")},
			rule:  "kv-cache-duplication", severity: validation.Warning, origin: "models-config/m.yaml:11",
			message: "tensor-parallel 8 exceeds the model's 2 KV heads: the KV cache is duplicated 4 times",
		},
		{
			name:  "KV cache duplication in an MLA model",
			files: map[string]string{"m.yaml": served("m", "    gpus: 4\n    kvHeads: 128\n    mla: true\n")},
			rule:  "kv-cache-duplication", severity: validation.Warning, origin: "models-config/m.yaml:11",
			message: "exceeds the model's 1 KV head (MLA): the KV cache is duplicated 4 times",
		},
		{
			name:  "enforce eager",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    args: [--enforce-eager]\n")},
			rule:  "enforce-eager", severity: validation.Warning, origin: "models-config/m.yaml:12", message: "--enforce-eager disables CUDA graphs",
		},
		{
			name:  "an upstream that runs a command",
			files: map[string]string{"m.yaml": strings.Replace(served("m", "    gpus: 1\n"), "  upstream: org/m\n", "  upstream: 'Qwen/Qwen3-8B;touch pwned;:'\n", 1)},
			rule:  "model-name", severity: validation.Error, origin: "models-config/m.yaml:6",
			message: `upstream "Qwen/Qwen3-8B;touch pwned;:" is not a Hugging Face repository id (ORG/NAME) or an absolute path`,
		},
		{
			name:  "a served name with a command substitution",
			files: map[string]string{"m.yaml": strings.Replace(served("m", "    gpus: 1\n"), "  upstream: org/m\n", "  upstream: org/m\n  served: chat$(id)\n", 1)},
			rule:  "model-name", severity: validation.Error, origin: "models-config/m.yaml:7",
			message: `served "chat$(id)" is not a model name`,
		},
		{
			name:  "a parser with a backtick",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    toolCallParser: 'hermes`id`'\n")},
			rule:  "model-name", severity: validation.Error, origin: "models-config/m.yaml:12",
			message: "toolCallParser \"hermes`id`\" is not a parser name",
		},
		{
			name:  "parsers on an embedding model",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    embedding: true\n    toolCallParser: hermes\n")},
			rule:  "embedding-parsers", severity: validation.Error, origin: "models-config/m.yaml:13", message: "an embedding model takes no tool-call or reasoning parser",
		},
		{
			name:  "vLLM Deployment",
			files: map[string]string{"d.yaml": deployment("RollingUpdate", true)},
			rule:  "inference-deployment", severity: validation.Warning, origin: "models-config/d.yaml:1", message: "an inference server as a Deployment is deprecated",
		},
		{
			name:  "ReadWriteOnce volume with RollingUpdate",
			files: map[string]string{"d.yaml": deployment("RollingUpdate", true)},
			rule:  "rwo-rolling-update", severity: validation.Warning, origin: "models-config/d.yaml:1", message: "Multi-Attach error",
		},
		{
			name:  "inference container without probes",
			files: map[string]string{"d.yaml": deployment("Recreate", false)},
			rule:  "inference-probes", severity: validation.Warning, origin: "models-config/d.yaml:1", message: "container vllm has no startupProbe, readinessProbe, livenessProbe",
		},
		{
			name:  "uva weight offload without a size",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    offload: {weights: uva}\n")},
			rule:  "offload", severity: validation.Error, origin: "models-config/m.yaml:12", message: "offload.weights uva needs weightsGB",
		},
		{
			name:  "an unknown weight offload backend",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    offload: {weights: disk}\n")},
			rule:  "offload", severity: validation.Error, origin: "models-config/m.yaml:12", message: `offload.weights "disk" is not a weight offload backend`,
		},
		{
			name:  "offloading more than the weights",
			files: map[string]string{"m.yaml": served("m", "    gpus: 1\n    offload: {weights: uva, weightsGB: 40}\n")},
			rule:  "offload", severity: validation.Error, origin: "models-config/m.yaml:12", message: "offload.weightsGB 40 is outside (0, weightsGi 16]",
		},
		{
			name:  "offload on SGLang",
			files: map[string]string{"m.yaml": served("m", "    engine: sglang\n    gpus: 1\n    offload: {kvGB: 8}\n")},
			rule:  "sglang-unsupported", severity: validation.Error, origin: "models-config/m.yaml:13", message: "spec.server.offload has no SGLang equivalent",
		},
		{
			name:  "a variant whose parallel sizes do not fill its GPUs points at the variant's field",
			files: map[string]string{"m.yaml": served("m", "    gpus: 2\n    variants:\n    - name: a\n    - name: b\n      gpus: 4\n      tensorParallel: 2\n")},
			rule:  "parallelism-gpus", severity: validation.Error, origin: "models-config/m.yaml:16", message: "but the pod has 4 GPUs (variant b)",
		},
		{
			name:  "a model across pods whose parallel sizes do not fill them",
			files: map[string]string{"g.yaml": glm("tensorParallel: 4\n    pipelineParallel: 2")},
			rule:  "parallelism-gpus", severity: validation.Error, origin: "models-config/g.yaml:14", message: "tensor 4 × pipeline 2 × data 1 = 8, but 3 pods of 4 GPUs hold 12",
		},
		{
			name:  "twelve GPUs in one pod",
			files: map[string]string{"g.yaml": strings.Replace(glm("tensorParallel: 4\n    pipelineParallel: 3"), "nodes: 3\n    gpus: 4", "gpus: 4", 1)},
			rule:  "parallelism-gpus", severity: validation.Error, origin: "models-config/g.yaml:13", message: "tensor 4 × pipeline 3 × data 1 = 12, but the pod has 4 GPUs",
		},
		{
			name:  "a multi-node model with variants",
			files: map[string]string{"g.yaml": glm("tensorParallel: 4\n    pipelineParallel: 3\n    variants: [{name: a}]")},
			rule:  "multi-node-variants", severity: validation.Error, origin: "models-config/g.yaml:11", message: "a multi-node model cannot have variants",
		},
	})
}

// ruleCase is a tree and the diagnostic it must give: its rule, severity,
// file:line and a part of its message.
type ruleCase struct {
	name     string
	files    map[string]string
	rule     string
	severity validation.Severity
	origin   string
	message  string
}

// checkRules loads each case's tree and checks the first diagnostic of its
// rule, which must also carry a hint.
func checkRules(t *testing.T, tests []ruleCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := fstest.MapFS{}
			for name, content := range tt.files {
				files["models-config/"+name] = &fstest.MapFile{Data: []byte(content)}
			}
			set, err := desired.Load(t.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: "nrp-llm"})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range set.Diagnostics {
				if d.Rule == tt.rule {
					if d.Severity != tt.severity || d.Origin.String() != tt.origin || !strings.Contains(d.Message, tt.message) || d.Hint == "" && tt.rule != "yaml" {
						t.Errorf("got %s\nwant %s at %s with message containing %q and a hint", d, tt.severity, tt.origin, tt.message)
					}
					return
				}
			}
			t.Errorf("no %s diagnostic; got %v", tt.rule, set.Diagnostics)
		})
	}
}

func manyRules(n int) string {
	var s string
	for i := range n {
		s += rule(fmt.Sprintf("m%d", i), "b")
	}
	return s
}

func policy(name string) string {
	return "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata:\n  name: " + name + "\nspec:\n" +
		"  type: APIKey\n  apiKey: {secretRef: {name: s}}\n  targetRefs:\n  - {group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: b}\n"
}

func deployment(strategy string, probes bool) string {
	probe := ""
	if probes {
		probe = "        startupProbe: {httpGet: {path: /health, port: 5000}}\n        readinessProbe: {httpGet: {path: /health, port: 5000}}\n        livenessProbe: {httpGet: {path: /health, port: 5000}}\n"
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  strategy: {type: ` + strategy + `}
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.11.2
` + probe + `        volumeMounts: [{name: w, mountPath: /workspace}]
      volumes:
      - name: w
        persistentVolumeClaim: {claimName: weights}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: weights
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
`
}

// glm is the runbook's GLM-5 across three 4-GPU pods, with parallel sizes.
func glm(parallel string) string {
	return "apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: glm-5\nspec:\n  upstream: zai-org/GLM-5-FP8\n  route: r\n  server:\n    image: i\n    weightsGi: 705\n    nodes: 3\n    gpus: 4\n    paramsB: 744\n    " + parallel + "\n"
}

// pools are two InferencePools, p1 and p2.
const pools = `apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: p1}
spec: {selector: {matchLabels: {app: a}}, targetPorts: [{number: 5000}], endpointPickerRef: {name: e, port: {number: 9002}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: p2}
spec: {selector: {matchLabels: {app: b}}, targetPorts: [{number: 5000}], endpointPickerRef: {name: e, port: {number: 9002}}}
`

// poolRule is a rule sending to the named pools.
func poolRule(value string, pools ...string) string {
	s := rule(value)
	for _, p := range pools {
		s += "    - {name: " + p + ", group: inference.networking.k8s.io, kind: InferencePool}\n"
	}
	return s
}
