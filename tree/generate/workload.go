package generate

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
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
func service(m *model.Model, ns string) *unstructured.Unstructured {
	return object("v1", "Service", meta(m.WorkloadName(), ns, labels(m, map[string]string{model.LabelComponent: model.ComponentLLM}), m.Metadata.Annotations), map[string]any{
		"spec": map[string]any{
			"type":     "ClusterIP",
			"selector": strs(podSelector(m)),
			"ports": []any{map[string]any{
				"name": "http", "port": int64(model.ServerPort), "protocol": "TCP", "targetPort": int64(model.ServerPort),
			}},
		},
		"status": emptyServiceStatus(),
	})
}

// emptyServiceStatus and emptyStatefulSetStatus are the status an unset
// typed object carried, which earlier versions generated and recorded; an
// apply ignores status, and keeping it leaves those records as they were.
func emptyServiceStatus() map[string]any {
	return map[string]any{"loadBalancer": map[string]any{}}
}

func emptyStatefulSetStatus() map[string]any {
	return map[string]any{"availableReplicas": int64(0), "replicas": int64(0)}
}

// volumeMounts are /dev/shm and the cache claim, in the Model's order.
func volumeMounts(m *model.Model) []any {
	shm := map[string]any{"name": model.MountShm, "mountPath": model.ShmPath}
	cache := map[string]any{"name": m.VolumeName(), "mountPath": "/workspace/.cache", "subPath": "cache"}
	if slices.Equal(m.Spec.Server.Mounts, []string{model.MountCache, model.MountShm}) {
		return []any{cache, shm}
	}
	return []any{shm, cache}
}

// labels are an object's: the Model's own labels, extra, and model.LabelModel.
func labels(m *model.Model, extra map[string]string) map[string]string {
	l := maps.Clone(m.Metadata.Labels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, extra)
	l[model.LabelModel] = m.Metadata.Name
	return l
}

func statefulSet(m *model.Model, ns string, r model.Resolved) (*unstructured.Unstructured, error) {
	name := m.StatefulSetName(r)
	podLabels := map[string]string{model.LabelApp: name, model.LabelComponent: model.ComponentLLM}
	if r.Name != "" {
		podLabels[model.LabelServiceGroup] = m.WorkloadName()
	}
	tmpl, err := podTemplate(m, ns, r, enginePod{container: name, labels: podLabels, line: engine.Line(m, r), serves: true})
	if err != nil {
		return nil, err
	}
	claim, err := claimTemplate(m)
	if err != nil {
		return nil, err
	}
	return object("apps/v1", "StatefulSet", meta(name, ns, labels(m, podLabels), workloadAnnotations(m)), map[string]any{
		"spec": map[string]any{
			"replicas":            int64(r.Replicas),
			"serviceName":         m.WorkloadName(),
			"podManagementPolicy": "OrderedReady",
			"persistentVolumeClaimRetentionPolicy": map[string]any{
				"whenDeleted": "Retain", "whenScaled": "Retain",
			},
			"selector":             map[string]any{"matchLabels": map[string]any{model.LabelApp: name}},
			"template":             tmpl,
			"volumeClaimTemplates": []any{claim},
			// What an unset typed strategy carried: see emptyServiceStatus.
			"updateStrategy": map[string]any{},
		},
		"status": emptyStatefulSetStatus(),
	}), nil
}

// enginePod is what differs between the pods of one Model: a StatefulSet's
// pod, a LeaderWorkerSet's leader and its workers.
type enginePod struct {
	container string            // the container's name
	labels    map[string]string // over the Model's podLabels
	line      string            // the engine's command line, run under bash -c
	serves    bool              // it answers the API: probed on /health, with a port
}

// podTemplate is the pod of one engine process: the container running p's
// line, sized for r, with /dev/shm and the cache claim mounted.
func podTemplate(m *model.Model, ns string, r model.Resolved, p enginePod) (map[string]any, error) {
	s := m.Spec.Server
	templateLabels := maps.Clone(s.PodLabels)
	if templateLabels == nil {
		templateLabels = map[string]string{}
	}
	maps.Copy(templateLabels, p.labels)
	res, err := resources(m, r)
	if err != nil {
		return nil, err
	}
	probe := func(period, failure int32) map[string]any {
		return map[string]any{
			"httpGet":          map[string]any{"path": "/health", "port": int64(model.ServerPort)},
			"periodSeconds":    int64(period),
			"failureThreshold": int64(failure),
		}
	}
	container := map[string]any{
		"name":            p.container,
		"imagePullPolicy": "Always",
		"command":         list(engine.Command()...),
		"args":            list(p.line),
		"resources":       res,
		"securityContext": map[string]any{
			"allowPrivilegeEscalation": false,
			"capabilities":             map[string]any{"drop": list("ALL")},
			"runAsNonRoot":             false,
		},
		"volumeMounts": volumeMounts(m),
	}
	if s.Image != "" {
		container["image"] = s.Image
	}
	env, err := content(engine.Env(m, r))
	if err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	if len(env) > 0 {
		container["env"] = env
	}
	if p.serves {
		container["ports"] = []any{map[string]any{"name": "http", "containerPort": int64(model.ServerPort), "protocol": "TCP"}}
		container["startupProbe"] = probe(10, s.StartupFailureThreshold())
		container["readinessProbe"] = probe(10, 6)
		container["livenessProbe"] = probe(30, 8)
	}
	if s.ConfigMap != "" {
		container["envFrom"] = []any{map[string]any{"configMapRef": map[string]any{"name": s.ConfigMap}}}
	}
	shm := map[string]any{"medium": "Memory"}
	if s.ShmSize != model.ShmUnlimited {
		q, err := quantity(s.ShmSize, model.DefaultShmSize)
		if err != nil {
			return nil, fmt.Errorf("shmSize %w", err)
		}
		shm["sizeLimit"] = q.String()
	}
	spec := map[string]any{
		"affinity":          affinity(r),
		"containers":        []any{container},
		"priorityClassName": cmp.Or(s.PriorityClass, model.DefaultPriorityClass),
		"securityContext":   map[string]any{"runAsGroup": int64(0), "runAsNonRoot": false, "runAsUser": int64(0)},
		"volumes":           []any{map[string]any{"name": model.MountShm, "emptyDir": shm}},
	}
	tolerations, err := tolerations(m, ns, r)
	if err != nil {
		return nil, fmt.Errorf("tolerations: %w", err)
	}
	if len(tolerations) > 0 {
		spec["tolerations"] = tolerations
	}
	return map[string]any{"metadata": meta("", "", templateLabels, s.PodAnnotations), "spec": spec}, nil
}

// claimTemplate is the cache claim each pod gets.
func claimTemplate(m *model.Model) (map[string]any, error) {
	s := m.Spec.Server
	storage, err := quantity(s.Overrides.Storage, fmt.Sprintf("%dGi", s.StorageGi()))
	if err != nil {
		return nil, fmt.Errorf("storage %w", err)
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "PersistentVolumeClaim",
		"metadata":   map[string]any{"name": m.VolumeName()},
		"spec": map[string]any{
			"accessModes":      list("ReadWriteOnce"),
			"resources":        map[string]any{"requests": map[string]any{"storage": storage.String()}},
			"storageClassName": cmp.Or(s.StorageClass, model.DefaultStorageClass),
			"volumeMode":       "Filesystem",
		},
	}, nil
}

// resources are the container's requests and limits: derived from the
// runbook's rules, or the Model's overrides.
func resources(m *model.Model, r model.Resolved) (map[string]any, error) {
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
	q := make([]string, len(values))
	for i, v := range values {
		parsed, err := quantity(v.override, v.derived)
		if err != nil {
			return nil, fmt.Errorf("%s %w", v.name, err)
		}
		q[i] = parsed.String()
	}
	gpus := strconv.Itoa(r.GPUs)
	limits := map[string]any{"cpu": q[1], "memory": q[3], r.GPUResource: gpus}
	if s.Offloading() && s.Overrides.CPULimit == "" {
		// The runbook: offloading to CPU RAM takes the most threads
		// possible, so the pod may use every thread of its node.
		delete(limits, "cpu")
	}
	return map[string]any{
		"requests": map[string]any{"cpu": q[0], "memory": q[2], r.GPUResource: gpus},
		"limits":   limits,
	}, nil
}

func affinity(r model.Resolved) map[string]any {
	var exprs []any
	expr := func(key, op string, values ...string) {
		exprs = append(exprs, map[string]any{"key": key, "operator": op, "values": list(values...)})
	}
	if len(r.GPUProducts) > 0 {
		expr(model.NodeGPUProduct, "In", r.GPUProducts...)
	}
	if r.MinGPUMemoryMB > 0 {
		expr(model.NodeGPUMemory, "Gt", strconv.Itoa(r.MinGPUMemoryMB))
	}
	expr(model.NodeComputeMajor, "Gt", strconv.Itoa(*r.ComputeMajorAbove))
	expr(model.NodeDriverMajor, "Gt", strconv.Itoa(*r.DriverMajorAbove))
	return map[string]any{"nodeAffinity": map[string]any{
		"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
			"nodeSelectorTerms": []any{map[string]any{"matchExpressions": exprs}},
		},
	}}
}

// tolerations: the namespace reservation, GPU nodes, and large-gpu nodes only
// for 4 or 8 GPUs, as the runbook says; or the Model's own.
func tolerations(m *model.Model, ns string, r model.Resolved) ([]any, error) {
	if t := m.Spec.Server.Overrides.Tolerations; t != nil {
		return content(t)
	}
	t := []any{
		reservedFor(cmp.Or(m.Spec.Server.Reservation, ns)),
		map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "PreferNoSchedule"},
	}
	if r.GPUs == 4 || r.GPUs == 8 {
		t = append(t, map[string]any{"key": "nautilus.io/hardware", "operator": "Equal", "value": "large-gpu", "effect": "NoSchedule"})
	}
	return t, nil
}

// reservedFor tolerates the nodes reserved for reservation.
func reservedFor(reservation string) map[string]any {
	return map[string]any{"key": model.ReservationKey, "operator": "Equal", "value": reservation, "effect": "NoSchedule"}
}

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

// workloadAnnotations are a workload's: the Model's own, and how its
// updates run when the Model says (model.AnnotationUpdate,
// model.AnnotationStartDeadline).
func workloadAnnotations(m *model.Model) map[string]string {
	if (m.Spec.Update == "" || m.Spec.Update == model.UpdateAuto) && (m.Spec.Server == nil || m.Spec.Server.StartDeadline == "") {
		return m.Metadata.Annotations
	}
	a := maps.Clone(m.Metadata.Annotations)
	if a == nil {
		a = map[string]string{}
	}
	if m.Spec.Update != "" && m.Spec.Update != model.UpdateAuto {
		a[model.AnnotationUpdate] = m.Spec.Update
	}
	if m.Spec.Server != nil && m.Spec.Server.StartDeadline != "" {
		a[model.AnnotationStartDeadline] = m.Spec.Server.StartDeadline
	}
	return a
}
