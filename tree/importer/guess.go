package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/tree/modelfiles"
)

// guess reads the Model's fields off the objects: names, routing, the
// engine's flags, hardware, and the sizes the runbook's formulas would
// derive differently as overrides.
func (im *importer) guess(ctx context.Context, srv *server) (*model.Model, error) {
	pod := srv.sts.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.Containers[0].Args) != 1 || !slices.Equal(pod.Containers[0].Command, engine.Command()) {
		return nil, errors.New("a Model generates one container running bash -c with the engine line as its one argument")
	}
	c := pod.Containers[0]
	line := c.Args[0]
	e := engine.Of(line)
	name := strings.TrimSuffix(srv.sts.Name, model.DefaultWorkloadName("", e))
	m := &model.Model{APIVersion: model.APIVersion, Kind: model.Kind, Metadata: model.Metadata{Name: name, Namespace: im.ns}}
	s := &model.Server{Image: c.Image}
	m.Spec.Server = s
	if e != engine.VLLM {
		s.Engine = e
	}
	if name == srv.sts.Name {
		s.WorkloadName = srv.sts.Name
	}
	im.routing(m, srv)
	if len(c.EnvFrom) == 1 && c.EnvFrom[0].ConfigMapRef != nil {
		s.ConfigMap = c.EnvFrom[0].ConfigMapRef.Name
	}
	s.Env = c.Env
	engine.Read(m, line)
	if err := hardware(s, srv.sts, c); err != nil {
		return nil, err
	}
	if pod.PriorityClassName != model.DefaultPriorityClass {
		s.PriorityClass = pod.PriorityClassName
	}
	for _, t := range pod.Tolerations {
		if t.Key == model.ReservationKey && t.Value != im.ns {
			s.Reservation = t.Value
		}
	}
	for k, v := range srv.sts.Spec.Template.Labels {
		if k != model.LabelApp && k != model.LabelComponent {
			if s.PodLabels == nil {
				s.PodLabels = map[string]string{}
			}
			s.PodLabels[k] = v
		}
	}
	s.PodAnnotations = srv.sts.Spec.Template.Annotations
	shm := resource.MustParse(model.DefaultShmSize)
	for _, v := range pod.Volumes {
		switch {
		case v.Name != model.MountShm || v.EmptyDir == nil:
		case v.EmptyDir.SizeLimit == nil:
			s.ShmSize = model.ShmUnlimited
		case v.EmptyDir.SizeLimit.Cmp(shm) != 0:
			s.ShmSize = v.EmptyDir.SizeLimit.String()
		}
	}
	return m, sizes(s, srv.sts, c, im.readFacts(ctx, m))
}

// readFacts reads the facts of m's files, when the import may: at the
// revision its engine line pins (recorded in the lock), else at main.
func (im *importer) readFacts(ctx context.Context, m *model.Model) *modelfiles.Facts {
	if im.facts == nil || m.Spec.Upstream == "" {
		return nil
	}
	rev := m.Spec.Revision
	if rev == "" {
		rev = "main"
	}
	f, err := im.facts(ctx, m.Spec.Upstream, rev)
	if err != nil {
		im.note("Model %s: weightsGi and paramsB estimated from the claim size: %v", m.Name(), err)
		return nil
	}
	im.fromFiles[m.Name()] = f.Commit
	if m.Spec.Revision != "" {
		im.res.Lock.Models[modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)] = f
	}
	return f
}

// routing takes served name, upstream, route, owner, timeout, backend name
// and API key from the gateway objects.
func (im *importer) routing(m *model.Model, srv *server) {
	if v := gateway.RuleKey(srv.rule); v != m.Name() {
		m.Spec.Served = v
	}
	ref := srv.rule["backendRefs"].([]any)[0].(map[string]any)
	m.Spec.Upstream, _ = ref["modelNameOverride"].(string)
	m.Spec.Route = srv.route.GetName()
	m.Spec.OwnedBy, _ = srv.rule["modelsOwnedBy"].(string)
	if t, _, _ := unstructured.NestedString(srv.rule, "timeouts", "request"); t != model.DefaultTimeout {
		m.Spec.Timeout = t
	}
	if n := srv.backend.GetName(); n != model.DefaultBackendName(m.Name()) {
		m.Spec.Backend = n
	}
	if s, _, _ := unstructured.NestedString(srv.serviceBackend.Object, "spec", "schema", "name"); s != model.DefaultSchema {
		m.Spec.Schema = s
	}
	if srv.policy != nil {
		m.Spec.APIKey = srv.policy.GetName()
	}
}

// hardware reads GPUs, node affinity, storage class and claim name.
func hardware(s *model.Server, sts appsv1.StatefulSet, c corev1.Container) error {
	for name, q := range c.Resources.Limits {
		if strings.HasPrefix(string(name), "nvidia.com/") {
			s.GPUs = int(q.Value())
			if name != model.DefaultGPUResource {
				s.GPUResource = string(name)
			}
		}
	}
	if s.GPUs == 0 {
		return errors.New("the container asks for no nvidia.com GPU")
	}
	if a := sts.Spec.Template.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				gt := func() *int {
					if len(e.Values) != 1 {
						return nil
					}
					n, err := strconv.Atoi(e.Values[0])
					if err != nil {
						return nil
					}
					return &n
				}
				switch e.Key {
				case model.NodeGPUProduct:
					s.GPUProducts = e.Values
				case model.NodeGPUMemory:
					if n := gt(); n != nil {
						s.MinGPUMemoryMB = *n
					}
				case model.NodeComputeMajor:
					if n := gt(); n == nil || *n != model.DefaultComputeMajorGt {
						s.ComputeMajorAbove = n
					}
				case model.NodeDriverMajor:
					if n := gt(); n == nil || *n != model.DefaultDriverMajorGt {
						s.DriverMajorAbove = n
					}
				}
			}
		}
	}
	if r := sts.Spec.Replicas; r != nil && *r != 1 {
		s.Replicas = r
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		return errors.New("a Model generates one volume claim template")
	}
	vct := sts.Spec.VolumeClaimTemplates[0]
	if vct.Name != model.DefaultVolumeName(sts.Name) {
		s.VolumeName = vct.Name
	}
	if sc := vct.Spec.StorageClassName; sc != nil && *sc != model.DefaultStorageClass {
		s.StorageClass = *sc
	}
	return nil
}

// sizes estimates weightsGi from the claim (the runbook sizes it 15 % over
// the weights) and paramsB from that, and writes overrides for every value
// the formulas then derive differently from the object.
func sizes(s *model.Server, sts appsv1.StatefulSet, c corev1.Container, facts *modelfiles.Facts) error {
	storage := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	gi := float64(storage.Value()) / (1 << 30)
	if facts != nil {
		(&model.Model{Spec: model.Spec{Server: s}}).UseFacts(facts)
	} else {
		s.WeightsGi = model.WeightsFromStorageGi(gi)
		s.ParamsB = model.ParamsFromWeightsGi(s.WeightsGi)
	}
	if s.StorageGi() != int64(gi) || float64(int64(gi)) != gi {
		s.Overrides.Storage = storage.String()
	}
	r := s.ResolvedVariants()[0]
	memReq, memLim := s.MemoryGi(r)
	type value struct {
		field   *string
		derived string
		live    resource.Quantity
	}
	for _, v := range []value{
		{&s.Overrides.CPURequest, strconv.Itoa(model.CPURequest(r)), c.Resources.Requests[corev1.ResourceCPU]},
		{&s.Overrides.CPULimit, strconv.Itoa(model.CPULimit(r)), c.Resources.Limits[corev1.ResourceCPU]},
		{&s.Overrides.MemoryRequest, fmt.Sprintf("%dGi", memReq), c.Resources.Requests[corev1.ResourceMemory]},
		{&s.Overrides.MemoryLimit, fmt.Sprintf("%dGi", memLim), c.Resources.Limits[corev1.ResourceMemory]},
	} {
		if derived := resource.MustParse(v.derived); derived.Cmp(v.live) != 0 {
			*v.field = v.live.String()
		}
	}
	if p := c.StartupProbe; p != nil && p.FailureThreshold != s.StartupFailureThreshold() {
		s.Overrides.StartupFailureThreshold = p.FailureThreshold
	}
	return nil
}
