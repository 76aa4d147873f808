package generate

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"modelsync.dev/modelsync/engine"
	"modelsync.dev/modelsync/model"
)

// podSelector selects the pods that serve the model's API, for its Service
// and its InferencePool: by app for one StatefulSet, by the runbook's
// service-group label for variants, the leaders of a multi-node model.
func podSelector(m *model.Model) map[string]string {
	if m.Spec.Server.MultiNode() {
		return leaderSelector(m.WorkloadName())
	}
	if len(m.Spec.Server.Variants) > 0 {
		return map[string]string{model.LabelServiceGroup: m.WorkloadName()}
	}
	return map[string]string{model.LabelApp: m.WorkloadName()}
}

// service selects the model's serving pods (podSelector).
func service(m *model.Model, ns string) *corev1.Service {
	selector := podSelector(m)
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: m.WorkloadName(), Namespace: ns, Labels: labels(m, map[string]string{model.LabelComponent: model.ComponentLLM}), Annotations: m.Metadata.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector,
			Ports: []corev1.ServicePort{{
				Name: "http", Port: model.ServerPort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(model.ServerPort),
			}},
		},
	}
}

// labels are an object's: the Model's own labels, extra, and model.LabelModel.
// volumeMounts are /dev/shm and the cache claim, in the Model's order.
func volumeMounts(m *model.Model) []corev1.VolumeMount {
	shm := corev1.VolumeMount{Name: model.MountShm, MountPath: model.ShmPath}
	cache := corev1.VolumeMount{Name: m.VolumeName(), MountPath: "/workspace/.cache", SubPath: "cache"}
	if slices.Equal(m.Spec.Server.Mounts, []string{model.MountCache, model.MountShm}) {
		return []corev1.VolumeMount{cache, shm}
	}
	return []corev1.VolumeMount{shm, cache}
}

func labels(m *model.Model, extra map[string]string) map[string]string {
	l := maps.Clone(m.Metadata.Labels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, extra)
	l[model.LabelModel] = m.Metadata.Name
	return l
}

func statefulSet(m *model.Model, ns string, r model.Resolved) (*appsv1.StatefulSet, error) {
	name := m.StatefulSetName(r)
	podLabels := map[string]string{model.LabelApp: name, model.LabelComponent: model.ComponentLLM}
	if r.Name != "" {
		podLabels[model.LabelServiceGroup] = m.WorkloadName()
	}
	tmpl, err := podTemplate(m, ns, r, name, podLabels, engine.Line(m, r), true)
	if err != nil {
		return nil, err
	}
	claim, err := claimTemplate(m)
	if err != nil {
		return nil, err
	}
	retain := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels(m, podLabels), Annotations: m.Metadata.Annotations},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &r.Replicas,
			ServiceName:         m.WorkloadName(),
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: retain, WhenScaled: retain,
			},
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{model.LabelApp: name}},
			Template:             tmpl,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
		},
	}, nil
}

// podTemplate is the pod of one engine process: the container named name
// running line under bash -c, sized for r, with /dev/shm and the cache
// claim mounted; probed on /health when serves (a multi-node worker is not).
func podTemplate(m *model.Model, ns string, r model.Resolved, name string, podLabels map[string]string, line string, serves bool) (corev1.PodTemplateSpec, error) {
	s := m.Spec.Server
	templateLabels := maps.Clone(s.PodLabels)
	if templateLabels == nil {
		templateLabels = map[string]string{}
	}
	maps.Copy(templateLabels, podLabels)
	res, err := resources(m, r)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	probe := func(period, failure int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(model.ServerPort)}},
			PeriodSeconds:    period,
			FailureThreshold: failure,
		}
	}
	container := corev1.Container{
		Name:            name,
		Image:           s.Image,
		ImagePullPolicy: corev1.PullAlways,
		Command:         engine.Command(),
		Args:            []string{line},
		Env:             engine.Env(m, r),
		Resources:       res,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsNonRoot:             ptr(false),
		},
		VolumeMounts: volumeMounts(m),
	}
	if serves {
		container.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: model.ServerPort, Protocol: corev1.ProtocolTCP}}
		container.StartupProbe = probe(10, s.StartupFailureThreshold())
		container.ReadinessProbe = probe(10, 6)
		container.LivenessProbe = probe(30, 8)
	}
	if s.ConfigMap != "" {
		container.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.ConfigMap}}}}
	}
	var shm *resource.Quantity
	if s.ShmSize != model.ShmUnlimited {
		q, err := quantity(s.ShmSize, model.DefaultShmSize)
		if err != nil {
			return corev1.PodTemplateSpec{}, fmt.Errorf("shmSize %w", err)
		}
		shm = &q
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: templateLabels, Annotations: s.PodAnnotations},
		Spec: corev1.PodSpec{
			Affinity:          affinity(m, r),
			Containers:        []corev1.Container{container},
			PriorityClassName: cmp.Or(s.PriorityClass, model.DefaultPriorityClass),
			SecurityContext:   &corev1.PodSecurityContext{RunAsGroup: ptr(int64(0)), RunAsNonRoot: ptr(false), RunAsUser: ptr(int64(0))},
			Tolerations:       tolerations(m, ns, r),
			Volumes: []corev1.Volume{{
				Name:         model.MountShm,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: shm}},
			}},
		},
	}, nil
}

// claimTemplate is the cache claim each pod gets.
func claimTemplate(m *model.Model) (corev1.PersistentVolumeClaim, error) {
	s := m.Spec.Server
	storage, err := quantity(s.Overrides.Storage, fmt.Sprintf("%dGi", s.StorageGi()))
	if err != nil {
		return corev1.PersistentVolumeClaim{}, fmt.Errorf("storage %w", err)
	}
	return corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: m.VolumeName()},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: storage}},
			StorageClassName: ptr(cmp.Or(s.StorageClass, model.DefaultStorageClass)),
			VolumeMode:       ptr(corev1.PersistentVolumeFilesystem),
		},
	}, nil
}

func resources(m *model.Model, r model.Resolved) (corev1.ResourceRequirements, error) {
	s := m.Spec.Server
	memReq, memLim := s.MemoryGi(r)
	type derived struct {
		name              string
		override, derived string
	}
	values := []derived{
		{"cpu request", s.Overrides.CPURequest, strconv.Itoa(model.CPURequest(r))},
		{"cpu limit", s.Overrides.CPULimit, strconv.Itoa(model.CPULimit(r))},
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

func affinity(m *model.Model, r model.Resolved) *corev1.Affinity {
	var exprs []corev1.NodeSelectorRequirement
	if len(r.GPUProducts) > 0 {
		exprs = append(exprs, corev1.NodeSelectorRequirement{Key: model.NodeGPUProduct, Operator: corev1.NodeSelectorOpIn, Values: r.GPUProducts})
	}
	if r.MinGPUMemoryMB > 0 {
		exprs = append(exprs, corev1.NodeSelectorRequirement{Key: model.NodeGPUMemory, Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.Itoa(r.MinGPUMemoryMB)}})
	}
	exprs = append(exprs,
		corev1.NodeSelectorRequirement{Key: model.NodeComputeMajor, Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.Itoa(*r.ComputeMajorAbove)}},
		corev1.NodeSelectorRequirement{Key: model.NodeDriverMajor, Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.Itoa(*r.DriverMajorAbove)}},
	)
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: exprs}},
		},
	}}
}

// tolerations: the namespace reservation, GPU nodes, and large-gpu nodes only
// for 4 or 8 GPUs, as the runbook says.
func tolerations(m *model.Model, ns string, r model.Resolved) []corev1.Toleration {
	if t := m.Spec.Server.Overrides.Tolerations; t != nil {
		return t
	}
	t := []corev1.Toleration{
		{Key: model.ReservationKey, Operator: corev1.TolerationOpEqual, Value: cmp.Or(m.Spec.Server.Reservation, ns), Effect: corev1.TaintEffectNoSchedule},
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule},
	}
	if r.GPUs == 4 || r.GPUs == 8 {
		t = append(t, corev1.Toleration{Key: "nautilus.io/hardware", Operator: corev1.TolerationOpEqual, Value: "large-gpu", Effect: corev1.TaintEffectNoSchedule})
	}
	return t
}

func ptr[T any](v T) *T { return &v }

// quantity returns override if set, else the derived value.
func quantity(override, derived string) (resource.Quantity, error) {
	if override != "" {
		q, err := resource.ParseQuantity(override)
		if err != nil {
			return q, fmt.Errorf("override %q: %w", override, err)
		}
		return q, nil
	}
	return resource.MustParse(derived), nil
}
