// Package model is the Model spec — one served LLM in a few lines — and the
// generator that turns Models into the objects the runbook has operators write
// by hand: StatefulSet and Service, Backend and AIServiceBackend, a rule in a
// route group's AIGatewayRoute, and targetRefs in the shared policies.
package model

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"modelsync.dev/modelsync/tree/manifest"
)

// The Model API.
const (
	Group      = "modelsync.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "Model"
)

// Labels and annotations modelsync puts on or reads from objects.
const (
	// LabelModel names the Model an object was generated from.
	LabelModel = Group + "/model"
	// AnnotationTrafficPolicy on a route template names the BackendTrafficPolicy
	// that must target its HTTPRoutes when they carry round-robin rules.
	AnnotationTrafficPolicy = Group + "/traffic-policy"
	// LabelServiceGroup is the runbook's label that puts several StatefulSets
	// (hardware variants) behind one Service.
	LabelServiceGroup = "service-group"
	// LabelApp and LabelComponent are the runbook's pod labels: app names
	// the workload, component is ComponentLLM for an engine's pods.
	LabelApp       = "app"
	LabelComponent = "component"
	ComponentLLM   = "llm"
	// AnnotationUpdate on a workload carries the Model's spec.update when it
	// forces how an update runs (UpdateSurge, UpdateRecreate).
	AnnotationUpdate = Group + "/update"
	// AnnotationStartDeadline on a workload bounds how long a new revision
	// may take to start in a surge (a Go duration): the Model's
	// spec.server.startDeadline, or set in its metadata.annotations.
	AnnotationStartDeadline = Group + "/start-deadline"
)

// How a Model's updates that restart its pods run (spec.update).
const (
	// UpdateAuto chooses at plan time: a surge when the new pods fit beside
	// the serving ones, else a roll (replicas ≥ 2) or an approved recreate.
	UpdateAuto = "auto"
	// UpdateSurge always surges; a plan where the copy cannot be placed
	// is refused.
	UpdateSurge = "surge"
	// UpdateRecreate never surges: with one replica, the update waits for
	// the prune job's approval and the model is down while it restarts.
	UpdateRecreate = "recreate"
)

// The two volumes of an engine's pod, by the role spec.server.mounts names.
const (
	MountShm   = "shm"
	MountCache = "cache"
	ShmPath    = "/dev/shm"
)

// Decimal is a number as the engine's flag takes it, written as a YAML
// number (gpuMemoryUtilization: 0.95) or a string ("0.95"); Decode turns a
// number into its digits and checks a string is one.
type Decimal string

// Model is one served model. Its metadata.name names the generated objects.
type Model struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`

	Origin manifest.Origin `json:"-"`
}

// Metadata is the part of ObjectMeta a Model uses. Its labels and annotations
// are added to every object the Model generates.
type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ShmUnlimited is the ShmSize of a /dev/shm volume without a size limit.
const ShmUnlimited = "unlimited"

// Spec describes how a model is reached and, when it is served here, how.
type Spec struct {
	// Served is the model name clients ask for (the x-ai-eg-model header
	// value). Default: metadata.name.
	Served string `json:"served,omitempty"`
	// Upstream is the name the backend serves the model under; the rule sets it
	// as modelNameOverride. For a served model it is also the --model argument.
	Upstream string `json:"upstream,omitempty"`
	// Revision pins the upstream repository's files (a commit, or a branch
	// or tag that modelsync lock resolves to one): the engine loads it
	// (--revision) and the plan sizes it from modelsync.lock.
	Revision string `json:"revision,omitempty"`
	// Route names the route group: a hand-written AIGatewayRoute in the tree
	// (parentRefs, llmRequestCosts, maybe rules of its own) that the model's
	// rule is added to. Default: the only AIGatewayRoute in the tree.
	Route string `json:"route,omitempty"`
	// OwnedBy is the rule's modelsOwnedBy.
	OwnedBy string `json:"ownedBy,omitempty"`
	// Timeout is the rule's request timeout. Default 1200s.
	Timeout string `json:"timeout,omitempty"`
	// APIKey names the shared BackendSecurityPolicy (in the tree) that must
	// target this model's AIServiceBackend.
	APIKey string `json:"apiKey,omitempty"`
	// Backend names the Backend and AIServiceBackend. Default envoy-ai-gateway-<name>.
	Backend string `json:"backend,omitempty"`
	// Schema is the AIServiceBackend API schema. Default OpenAI.
	Schema string `json:"schema,omitempty"`
	// Update says how an update that restarts the model's pods runs: auto
	// (default), surge or recreate (UpdateAuto, UpdateSurge, UpdateRecreate).
	Update string `json:"update,omitempty"`

	// Exactly one of External, Server and Combine says where the model runs.

	// External is a model hosted elsewhere: only Backend, AIServiceBackend and rule.
	External *External `json:"external,omitempty"`
	// Server is a model served in this namespace by vLLM or SGLang.
	Server *Server `json:"server,omitempty"`
	// Pool routes a served model through an InferencePool and its endpoint
	// picker instead of a Backend and AIServiceBackend.
	Pool *Pool `json:"pool,omitempty"`

	// Combine round-robins over the backends of other Models, named by
	// metadata.name; their route needs a BackendTrafficPolicy with a retry policy.
	Combine []string `json:"combine,omitempty"`
}

// Pool is a served model's InferencePool (inference.networking.k8s.io/v1)
// and endpoint picker: the picker chooses the pod for each request from the
// engines' metrics (queue, KV-cache use, prefix cache).
type Pool struct {
	// PickerImage is the endpoint picker's image. Default DefaultPickerImage.
	PickerImage string `json:"pickerImage,omitempty"`
	// PickerReplicas is the picker Deployment's replicas. Default 1.
	PickerReplicas *int32 `json:"pickerReplicas,omitempty"`
}

// External is an endpoint outside this namespace.
type External struct {
	Hostname string `json:"hostname"`
	Port     int32  `json:"port"`
}

// Server is a model served here.
type Server struct {
	// Engine is vllm (default) or sglang.
	Engine string `json:"engine,omitempty"`
	// Image is the engine's container image.
	Image string `json:"image"`
	// ConfigMap is loaded with envFrom (HF_TOKEN, VLLM_API_KEY).
	ConfigMap string `json:"configMap,omitempty"`
	// WeightsGi is the weight size hf-mem reports, in GiB.
	WeightsGi float64 `json:"weightsGi,omitempty"`
	// ParamsB is the parameter count in billions; it sets the startup probe.
	ParamsB float64 `json:"paramsB,omitempty"`
	// StartDeadline bounds how long a new revision may take to start in a
	// surge before it is abandoned (a duration, 1m to 24h). Default: the
	// startup probe's budget plus 10 minutes.
	StartDeadline string `json:"startDeadline,omitempty"`

	MaxModelLen          int     `json:"maxModelLen,omitempty"`
	GPUMemoryUtilization Decimal `json:"gpuMemoryUtilization,omitempty"`
	MaxNumSeqs           int     `json:"maxNumSeqs,omitempty"`
	MaxNumBatchedTokens  int     `json:"maxNumBatchedTokens,omitempty"`
	ToolCallParser       string  `json:"toolCallParser,omitempty"`
	ReasoningParser      string  `json:"reasoningParser,omitempty"`
	TrustRemoteCode      bool    `json:"trustRemoteCode,omitempty"`
	// Embedding serves an embedding model: --runner pooling --convert embed, no parsers.
	Embedding bool `json:"embedding,omitempty"`
	// Mamba enables prefix caching for Mamba and Mamba-hybrid models.
	Mamba bool `json:"mamba,omitempty"`
	// Multimodal models get --mm-processor-cache-gb and more memory.
	Multimodal bool `json:"multimodal,omitempty"`
	// MMProcessorCacheGB is the multimodal processor cache per API server
	// (vLLM's default, 4, when unset; 0 turns the cache off).
	MMProcessorCacheGB *int `json:"mmProcessorCacheGB,omitempty"`
	// HFOverrides is the --hf-overrides JSON; a RoPE override that raises the
	// context also sets VLLM_ALLOW_LONG_MAX_MODEL_LEN.
	HFOverrides string `json:"hfOverrides,omitempty"`
	// PreStart runs before the engine, for example to install a package.
	PreStart string `json:"preStart,omitempty"`
	// CommandLine is the whole engine command line run by bash -c, exactly as
	// written: it replaces the generated one (modelsync import writes it when a
	// live object's line differs from the generated one in order or flags). The
	// fields above must agree with its flags; Args and PreStart are then unset.
	CommandLine string `json:"commandLine,omitempty"`
	// Args are appended to the engine's command line.
	Args []string        `json:"args,omitempty"`
	Env  []corev1.EnvVar `json:"env,omitempty"`

	// OverheadGi replaces sizing's estimate of the memory per GPU that is
	// neither weights nor KV cache (activations, CUDA graphs, CUDA context).
	OverheadGi float64 `json:"overheadGi,omitempty"`

	// Architecture, from the model's config.json, for the parallelism checks.
	AttentionHeads int  `json:"attentionHeads,omitempty"`
	KVHeads        int  `json:"kvHeads,omitempty"`
	MLA            bool `json:"mla,omitempty"`

	// Offload moves weights or KV cache to CPU RAM.
	Offload *Offload `json:"offload,omitempty"`
	// Nodes is the pods one instance of the model spans (GPUs is per pod).
	// Above 1 the model runs as a LeaderWorkerSet: per replica a leader,
	// which serves the API, and Nodes-1 workers; tensor × pipeline × data
	// parallel sizes then multiply to GPUs × Nodes.
	Nodes int `json:"nodes,omitempty"`
	// Hardware for the single StatefulSet, and the defaults of every variant.
	Hardware `json:",inline"`
	// Variants are StatefulSets on different hardware behind the one Service.
	Variants []Variant `json:"variants,omitempty"`

	PriorityClass string `json:"priorityClass,omitempty"`
	// Reservation is the nautilus.io/reservation toleration value. Default: the namespace.
	Reservation  string `json:"reservation,omitempty"`
	StorageClass string `json:"storageClass,omitempty"`

	// WorkloadName names the StatefulSet (or the prefix of its variants) and
	// the Service. Default <name>-<engine>-inference.
	WorkloadName string `json:"workloadName,omitempty"`
	// VolumeName names the volume claim template and its mount. Default
	// <workloadName>-volume.
	VolumeName string `json:"volumeName,omitempty"`
	// Mounts is the order of the container's two volume mounts, by role:
	// [shm, cache] (default) or [cache, shm]. Reordering them changes the
	// pod template, so an adopted StatefulSet keeps its own order.
	Mounts []string `json:"mounts,omitempty"`
	// ShmSize is the size limit of the /dev/shm memory volume. Default 10Gi;
	// ShmUnlimited ("unlimited") sets none (the node's memory bounds it), as
	// teams often write it.
	ShmSize string `json:"shmSize,omitempty"`
	// PodLabels and PodAnnotations are added to the pod template, beside the
	// generated app and component labels.
	PodLabels      map[string]string `json:"podLabels,omitempty"`
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// Overrides replace derived values.
	Overrides Overrides `json:"overrides,omitempty"`
}

// Hardware is where one StatefulSet runs and how the model is split over it.
type Hardware struct {
	GPUs int `json:"gpus,omitempty"`
	// GPUResource is the extended resource, nvidia.com/gpu or a special one
	// such as nvidia.com/a100.
	GPUResource string `json:"gpuResource,omitempty"`
	// GPUProducts restricts nodes by nvidia.com/gpu.product.
	GPUProducts    []string `json:"gpuProducts,omitempty"`
	MinGPUMemoryMB int      `json:"minGPUMemoryMB,omitempty"`
	// ComputeMajorAbove and DriverMajorAbove are node-affinity lower bounds
	// (nvidia.com/gpu.compute.major, nvidia.com/cuda.driver.major Gt).
	ComputeMajorAbove *int `json:"computeMajorAbove,omitempty"`
	DriverMajorAbove  *int `json:"driverMajorAbove,omitempty"`

	TensorParallel        int    `json:"tensorParallel,omitempty"`
	PipelineParallel      int    `json:"pipelineParallel,omitempty"`
	DataParallel          int    `json:"dataParallel,omitempty"`
	DecodeContextParallel int    `json:"decodeContextParallel,omitempty"`
	APIServers            int    `json:"apiServers,omitempty"`
	Replicas              *int32 `json:"replicas,omitempty"`
}

// Variant is one StatefulSet of a Model; unset hardware fields come from the Server.
type Variant struct {
	Name     string `json:"name"`
	Hardware `json:",inline"`
}

// Overrides replace values the generator derives from the runbook's rules.
type Overrides struct {
	CPURequest              string `json:"cpuRequest,omitempty"`
	CPULimit                string `json:"cpuLimit,omitempty"`
	MemoryRequest           string `json:"memoryRequest,omitempty"`
	MemoryLimit             string `json:"memoryLimit,omitempty"`
	Storage                 string `json:"storage,omitempty"`
	StartupFailureThreshold int32  `json:"startupFailureThreshold,omitempty"`
	// Tolerations replace the generated ones (reservation, GPU, large-gpu).
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// Name returns metadata.name.
func (m *Model) Name() string { return m.Metadata.Name }

// ServedName is the x-ai-eg-model value clients use.
func (m *Model) ServedName() string {
	if m.Spec.Served != "" {
		return m.Spec.Served
	}
	return m.Metadata.Name
}

// RuleName names the model's rule in its route: the served name when it is
// a DNS subdomain already (the AIGatewayRoute CRD requires one), else a
// lower-case form of it with a short digest of the served name, so that
// "MiniMax-M2.5" or "org/model" can be served. Clients still ask for the
// served name: it stays the header value.
func (m *Model) RuleName() string {
	served := m.ServedName()
	if len(validation.IsDNS1123Subdomain(served)) == 0 {
		return served
	}
	var b strings.Builder
	for _, r := range strings.ToLower(served) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	sum := sha256.Sum256([]byte(served))
	base := strings.Trim(b.String(), "-.")
	if len(base) > 200 {
		base = strings.Trim(base[:200], "-.")
	}
	name := hex.EncodeToString(sum[:3])
	if base != "" {
		name = base + "-" + name
	}
	return name
}

// BackendName names the Backend and AIServiceBackend.
func (m *Model) BackendName() string {
	if m.Spec.Backend != "" {
		return m.Spec.Backend
	}
	return DefaultBackendName(m.Metadata.Name)
}

// DefaultBackendName is the runbook's Backend name of a model.
func DefaultBackendName(name string) string { return "envoy-ai-gateway-" + name }

// WorkloadName names the Service and (single) StatefulSet: <name>-<engine>-inference.
func (m *Model) WorkloadName() string {
	if m.Spec.Server != nil && m.Spec.Server.WorkloadName != "" {
		return m.Spec.Server.WorkloadName
	}
	return DefaultWorkloadName(m.Metadata.Name, m.Spec.Server.EngineName())
}

// DefaultWorkloadName is the runbook's workload name of a model: <name>-<engine>-inference.
func DefaultWorkloadName(name, engine string) string { return name + "-" + engine + "-inference" }

// StatefulSetName is <workload> for one StatefulSet, <workload>-<variant> for several.
func (m *Model) StatefulSetName(r Resolved) string {
	if r.Name == "" {
		return m.WorkloadName()
	}
	return m.WorkloadName() + "-" + r.Name
}

// VolumeName names the cache claim template and its mount: <workload>-volume.
func (m *Model) VolumeName() string {
	return cmp.Or(m.Spec.Server.VolumeName, DefaultVolumeName(m.WorkloadName()))
}

// DefaultVolumeName is the runbook's cache claim name of a workload.
func DefaultVolumeName(workload string) string { return workload + "-volume" }

// EngineName is spec.server.engine, vllm when unset.
func (s *Server) EngineName() string {
	if s.Engine == "" {
		return "vllm"
	}
	return s.Engine
}

// MultiNode reports whether the model runs across several pods.
func (s *Server) MultiNode() bool { return s.Nodes > 1 }

// PoolName names the InferencePool of a pooled model: its workload's name.
func (m *Model) PoolName() string { return m.WorkloadName() }
