package model

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// pipelineEnv are the runbook's timeouts for pipeline parallelism, which can
// take minutes to initialise after the API server reports startup.
var pipelineEnv = []corev1.EnvVar{
	{Name: "VLLM_RPC_TIMEOUT", Value: "1200000"},
	{Name: "VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", Value: "1200"},
	{Name: "VLLM_ENGINE_ITERATION_TIMEOUT_S", Value: "1200"},
}

// statefulSetName is <workload> for one StatefulSet, <workload>-<variant> for several.
func (m *Model) statefulSetName(r Resolved) string {
	if r.Name == "" {
		return m.WorkloadName()
	}
	return m.WorkloadName() + "-" + r.Name
}

func (m *Model) volumeName() string {
	return firstNonEmpty(m.Spec.Server.VolumeName, m.WorkloadName()+"-volume")
}

// podSelector selects the pods that serve the model's API, for its Service
// and its InferencePool: by app for one StatefulSet, by the runbook's
// service-group label for variants, the leaders of a multi-node model.
func (m *Model) podSelector() map[string]string {
	if m.Spec.Server.MultiNode() {
		return leaderSelector(m.WorkloadName())
	}
	if len(m.Spec.Server.Variants) > 0 {
		return map[string]string{LabelServiceGroup: m.WorkloadName()}
	}
	return map[string]string{"app": m.WorkloadName()}
}

// service selects the model's serving pods (podSelector).
func (m *Model) service(ns string) *corev1.Service {
	selector := m.podSelector()
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: m.WorkloadName(), Namespace: ns, Labels: m.labels(map[string]string{"component": "llm"}), Annotations: m.Metadata.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector,
			Ports: []corev1.ServicePort{{
				Name: "http", Port: ServerPort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(ServerPort),
			}},
		},
	}
}

// labels are an object's: the Model's own labels, extra, and LabelModel.
// volumeMounts are /dev/shm and the cache claim, in the Model's order.
func (m *Model) volumeMounts() []corev1.VolumeMount {
	shm := corev1.VolumeMount{Name: "shm", MountPath: "/dev/shm"}
	cache := corev1.VolumeMount{Name: m.volumeName(), MountPath: "/workspace/.cache", SubPath: "cache"}
	if slices.Equal(m.Spec.Server.Mounts, []string{"cache", "shm"}) {
		return []corev1.VolumeMount{cache, shm}
	}
	return []corev1.VolumeMount{shm, cache}
}

func (m *Model) labels(extra map[string]string) map[string]string {
	l := maps.Clone(m.Metadata.Labels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, extra)
	l[LabelModel] = m.Metadata.Name
	return l
}

func (m *Model) statefulSet(ns string, r Resolved) (*appsv1.StatefulSet, error) {
	name := m.statefulSetName(r)
	podLabels := map[string]string{"app": name, "component": "llm"}
	if r.Name != "" {
		podLabels[LabelServiceGroup] = m.WorkloadName()
	}
	tmpl, err := m.podTemplate(ns, r, name, podLabels, m.commandLine(r), true)
	if err != nil {
		return nil, err
	}
	claim, err := m.claimTemplate()
	if err != nil {
		return nil, err
	}
	retain := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: m.labels(podLabels), Annotations: m.Metadata.Annotations},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &r.Replicas,
			ServiceName:         m.WorkloadName(),
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: retain, WhenScaled: retain,
			},
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:             tmpl,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
		},
	}, nil
}

// podTemplate is the pod of one engine process: the container named name
// running line under bash -c, sized for r, with /dev/shm and the cache
// claim mounted; probed on /health when serves (a multi-node worker is not).
func (m *Model) podTemplate(ns string, r Resolved, name string, podLabels map[string]string, line string, serves bool) (corev1.PodTemplateSpec, error) {
	s := m.Spec.Server
	templateLabels := maps.Clone(s.PodLabels)
	if templateLabels == nil {
		templateLabels = map[string]string{}
	}
	maps.Copy(templateLabels, podLabels)
	res, err := m.resources(r)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	probe := func(period, failure int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(ServerPort)}},
			PeriodSeconds:    period,
			FailureThreshold: failure,
		}
	}
	container := corev1.Container{
		Name:            name,
		Image:           s.Image,
		ImagePullPolicy: corev1.PullAlways,
		Command:         []string{"bash", "-c"},
		Args:            []string{line},
		Env:             m.env(r),
		Resources:       res,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsNonRoot:             ptr(false),
		},
		VolumeMounts: m.volumeMounts(),
	}
	if serves {
		container.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: ServerPort, Protocol: corev1.ProtocolTCP}}
		container.StartupProbe = probe(10, s.StartupFailureThreshold())
		container.ReadinessProbe = probe(10, 6)
		container.LivenessProbe = probe(30, 8)
	}
	if s.ConfigMap != "" {
		container.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.ConfigMap}}}}
	}
	var shm *resource.Quantity
	if s.ShmSize != ShmUnlimited {
		q, err := quantity(s.ShmSize, "10Gi")
		if err != nil {
			return corev1.PodTemplateSpec{}, fmt.Errorf("shmSize %w", err)
		}
		shm = &q
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: templateLabels, Annotations: s.PodAnnotations},
		Spec: corev1.PodSpec{
			Affinity:          m.affinity(r),
			Containers:        []corev1.Container{container},
			PriorityClassName: firstNonEmpty(s.PriorityClass, DefaultPriorityClass),
			SecurityContext:   &corev1.PodSecurityContext{RunAsGroup: ptr(int64(0)), RunAsNonRoot: ptr(false), RunAsUser: ptr(int64(0))},
			Tolerations:       m.tolerations(ns, r),
			Volumes: []corev1.Volume{{
				Name:         "shm",
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: shm}},
			}},
		},
	}, nil
}

// claimTemplate is the cache claim each pod gets.
func (m *Model) claimTemplate() (corev1.PersistentVolumeClaim, error) {
	s := m.Spec.Server
	storage, err := quantity(s.Overrides.Storage, fmt.Sprintf("%dGi", s.StorageGi()))
	if err != nil {
		return corev1.PersistentVolumeClaim{}, fmt.Errorf("storage %w", err)
	}
	return corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: m.volumeName()},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: storage}},
			StorageClassName: ptr(firstNonEmpty(s.StorageClass, DefaultStorageClass)),
			VolumeMode:       ptr(corev1.PersistentVolumeFilesystem),
		},
	}, nil
}

func (m *Model) resources(r Resolved) (corev1.ResourceRequirements, error) {
	s := m.Spec.Server
	memReq, memLim := s.MemoryGi(r)
	type derived struct {
		name              string
		override, derived string
	}
	values := []derived{
		{"cpu request", s.Overrides.CPURequest, strconv.Itoa(CPURequest(r))},
		{"cpu limit", s.Overrides.CPULimit, strconv.Itoa(CPULimit(r))},
		{"memory request", s.Overrides.MemoryRequest, fmt.Sprintf("%dGi", memReq)},
		{"memory limit", s.Overrides.MemoryLimit, fmt.Sprintf("%dGi", memLim)},
	}
	q := make([]resource.Quantity, len(values))
	for i, v := range values {
		var err error
		if q[i], err = quantity(v.override, v.derived); err != nil {
			return corev1.ResourceRequirements{}, fmt.Errorf("%s %w", v.name, err)
		}
	}
	gpu := resource.MustParse(strconv.Itoa(r.GPUs))
	gpuName := corev1.ResourceName(r.GPUResource)
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q[0], corev1.ResourceMemory: q[2], gpuName: gpu},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q[1], corev1.ResourceMemory: q[3], gpuName: gpu},
	}
	if s.Offloading() && s.Overrides.CPULimit == "" {
		// The runbook: offloading to CPU RAM takes the most threads
		// possible, so the pod may use every thread of its node.
		delete(res.Limits, corev1.ResourceCPU)
	}
	return res, nil
}

func (m *Model) affinity(r Resolved) *corev1.Affinity {
	var exprs []corev1.NodeSelectorRequirement
	if len(r.GPUProducts) > 0 {
		exprs = append(exprs, corev1.NodeSelectorRequirement{Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn, Values: r.GPUProducts})
	}
	if r.MinGPUMemoryMB > 0 {
		exprs = append(exprs, corev1.NodeSelectorRequirement{Key: "nvidia.com/gpu.memory", Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.Itoa(r.MinGPUMemoryMB)}})
	}
	exprs = append(exprs,
		corev1.NodeSelectorRequirement{Key: "nvidia.com/gpu.compute.major", Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.Itoa(*r.ComputeMajorAbove)}},
		corev1.NodeSelectorRequirement{Key: "nvidia.com/cuda.driver.major", Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.Itoa(*r.DriverMajorAbove)}},
	)
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: exprs}},
		},
	}}
}

// tolerations: the namespace reservation, GPU nodes, and large-gpu nodes only
// for 4 or 8 GPUs, as the runbook says.
func (m *Model) tolerations(ns string, r Resolved) []corev1.Toleration {
	if t := m.Spec.Server.Overrides.Tolerations; t != nil {
		return t
	}
	t := []corev1.Toleration{
		{Key: "nautilus.io/reservation", Operator: corev1.TolerationOpEqual, Value: firstNonEmpty(m.Spec.Server.Reservation, ns), Effect: corev1.TaintEffectNoSchedule},
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule},
	}
	if r.GPUs == 4 || r.GPUs == 8 {
		t = append(t, corev1.Toleration{Key: "nautilus.io/hardware", Operator: corev1.TolerationOpEqual, Value: "large-gpu", Effect: corev1.TaintEffectNoSchedule})
	}
	return t
}

func (m *Model) env(r Resolved) []corev1.EnvVar {
	s := m.Spec.Server
	var env []corev1.EnvVar
	if s.engine() != "vllm" {
		return append(env, s.Env...) // the variables below are vLLM's
	}
	if r.PipelineParallel > 1 {
		env = append(env, pipelineEnv...)
	}
	if raisesContext(s.HFOverrides) {
		env = append(env, corev1.EnvVar{Name: "VLLM_ALLOW_LONG_MAX_MODEL_LEN", Value: "1"})
	}
	env = append(env, offloadEnv(s)...)
	return append(env, s.Env...)
}

// raisesContext reports whether --hf-overrides carries a RoPE scaling
// override, which lets --max-model-len exceed the model's trained context.
func raisesContext(overrides string) bool {
	return strings.Contains(overrides, "rope_scaling") || strings.Contains(overrides, "rope_parameters")
}

func ptr[T any](v T) *T { return &v }
