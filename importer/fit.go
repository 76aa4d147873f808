package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/engine"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/generate"
	"modelsync.dev/modelsync/manifest"
	"modelsync.dev/modelsync/model"
	"modelsync.dev/modelsync/modelfiles"
)

// isServer reports whether u runs vLLM or SGLang the way the runbook writes it.
func isServer(u *unstructured.Unstructured) bool {
	if u.GetKind() != "StatefulSet" && u.GetKind() != "Deployment" {
		return false
	}
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		cm, _ := c.(map[string]any)
		args, _, _ := unstructured.NestedStringSlice(cm, "args")
		command, _, _ := unstructured.NestedStringSlice(cm, "command")
		if engine.Of(strings.Join(append(command, args...), " ")) != "" {
			return true
		}
	}
	return false
}

// server is a recognised workload and the gateway objects that reach it.
type server struct {
	sts                    appsv1.StatefulSet
	workload, svc, backend *unstructured.Unstructured
	serviceBackend, route  *unstructured.Unstructured
	rule                   map[string]any
	policy                 *unstructured.Unstructured
}

// fit finds a Model that generates u and its gateway objects exactly, or says
// why there is none.
func (im *importer) fit(ctx context.Context, u *unstructured.Unstructured) (*model.Model, error) {
	if why := unexpressed(u); len(why) > 0 {
		return nil, fmt.Errorf("no Model field expresses %s", strings.Join(why, "; "))
	}
	srv, err := im.find(u)
	if err != nil {
		return nil, err
	}
	m, err := im.guess(ctx, srv)
	if err != nil {
		return nil, err
	}
	// Generate, and take from the object what the fields derive differently.
	gen, err := im.generate(m, srv)
	if err != nil {
		return nil, err
	}
	want := srv.sts.Spec.Template.Spec
	got := gen.Spec.Template.Spec
	if got.Containers[0].Args[0] != want.Containers[0].Args[0] {
		m.Spec.Server.CommandLine = want.Containers[0].Args[0]
		m.Spec.Server.PreStart, m.Spec.Server.Args = "", nil
	}
	if mounts := want.Containers[0].VolumeMounts; len(mounts) == 2 && mounts[0].MountPath != model.ShmPath {
		m.Spec.Server.Mounts = []string{model.MountCache, model.MountShm}
	}
	if !cmp.Equal(got.Tolerations, want.Tolerations) {
		m.Spec.Server.Overrides.Tolerations = want.Tolerations
	}
	if err := im.verify(ctx, m, srv); err != nil {
		return nil, err
	}
	if m.Spec.Revision != "" && im.res.Lock.Models[modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)] != nil {
		// Pinned and locked: the lock gives these back, as it gave them.
		s := m.Spec.Server
		s.WeightsGi, s.ParamsB, s.AttentionHeads, s.KVHeads, s.MLA = 0, 0, 0, 0, false
	}
	for _, o := range []*unstructured.Unstructured{srv.workload, srv.svc, srv.backend, srv.serviceBackend} {
		im.taken[o] = true
	}
	removeItem(srv.route, gateway.RuleKey(srv.rule))
	if srv.policy != nil {
		removeItem(srv.policy, targetKey(srv.serviceBackend.GetName()))
	}
	return m, nil
}

// find collects the objects that serve u: its Service (same name, selecting
// its pods), the Backend pointing at the Service, the AIServiceBackend of that
// Backend, the route rule that sends to it alone, and the API key policy.
func (im *importer) find(u *unstructured.Unstructured) (*server, error) {
	srv := &server{workload: u}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &srv.sts); err != nil {
		return nil, err
	}
	name := u.GetName()
	for _, s := range im.objectsOf(schema.GroupKind{Kind: "Service"}) {
		sel, _, _ := unstructured.NestedStringMap(s.Object, "spec", "selector")
		if s.GetName() == name && sel[model.LabelApp] == name && len(sel) == 1 {
			srv.svc = s
		}
	}
	if srv.svc == nil {
		return nil, fmt.Errorf("no Service named %s selects app=%s; a Model generates both", name, name)
	}
	host := name + "." + im.ns + ".svc.cluster.local"
	for _, b := range im.objectsOf(gateway.Backend) {
		eps, _, _ := unstructured.NestedSlice(b.Object, "spec", "endpoints")
		if len(eps) != 1 {
			continue
		}
		h, _, _ := unstructured.NestedString(eps[0].(map[string]any), "fqdn", "hostname")
		p, _, _ := unstructured.NestedInt64(eps[0].(map[string]any), "fqdn", "port")
		if h == host && p == model.ServerPort {
			srv.backend = b
		}
	}
	if srv.backend == nil {
		return nil, fmt.Errorf("no Backend points at %s:%d", host, model.ServerPort)
	}
	for _, a := range im.objectsOf(gateway.ServiceBackend) {
		ref, _, _ := unstructured.NestedString(a.Object, "spec", "backendRef", "name")
		if a.GetName() == srv.backend.GetName() && ref == srv.backend.GetName() {
			srv.serviceBackend = a
		}
	}
	if srv.serviceBackend == nil {
		return nil, fmt.Errorf("no AIServiceBackend named %s uses Backend %s; a Model generates both under one name", srv.backend.GetName(), srv.backend.GetName())
	}
	for _, r := range im.objectsOf(gateway.Route) {
		for _, it := range gateway.Items(r) {
			refs, _ := it.Value["backendRefs"].([]any)
			if len(refs) != 1 {
				continue
			}
			if ref, _ := refs[0].(map[string]any); ref["name"] == srv.serviceBackend.GetName() {
				if srv.rule != nil {
					return nil, fmt.Errorf("two rules send to AIServiceBackend %s alone (%s, %s); a Model has one", srv.serviceBackend.GetName(), gateway.RuleKey(srv.rule), it.Key)
				}
				srv.route, srv.rule = r, it.Value
			}
		}
	}
	if srv.rule == nil {
		return nil, fmt.Errorf("no AIGatewayRoute rule sends to AIServiceBackend %s alone", srv.serviceBackend.GetName())
	}
	policy, err := im.policyOf(srv.serviceBackend.GetName())
	if err != nil {
		return nil, err
	}
	srv.policy = policy
	return srv, nil
}

// guess reads the Model's fields off the objects: names, routing, the
// engine's flags, hardware, and the sizes the runbook's formulas would
// derive differently as overrides.
func (im *importer) guess(ctx context.Context, srv *server) (*model.Model, error) {
	pod := srv.sts.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.Containers[0].Args) != 1 || !slices.Equal(pod.Containers[0].Command, []string{"bash", "-c"}) {
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

// generate renders m with the route and policy it contributes to, and
// returns its StatefulSet.
func (im *importer) generate(m *model.Model, srv *server) (*appsv1.StatefulSet, error) {
	out, err := im.render(m, srv)
	if err != nil {
		return nil, err
	}
	for _, o := range out.Objects {
		if o.GetKind() == "StatefulSet" && o.GetName() == srv.sts.Name {
			var sts appsv1.StatefulSet
			err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sts)
			return &sts, err
		}
	}
	return nil, fmt.Errorf("the Model generates no StatefulSet %s", srv.sts.Name)
}

// render generates m beside copies of its route (without its rule) and
// API key policy (without its targetRef).
func (im *importer) render(m *model.Model, srv *server) (generate.Output, error) {
	route := srv.route.DeepCopy()
	removeItem(route, gateway.RuleKey(srv.rule))
	raw := []manifest.Object{{Unstructured: route}}
	if srv.policy != nil {
		p := srv.policy.DeepCopy()
		removeItem(p, targetKey(srv.serviceBackend.GetName()))
		raw = append(raw, manifest.Object{Unstructured: p})
	}
	return generate.Objects([]model.Model{*m}, raw, im.ns)
}

// verify checks that every object m generates equals the one it replaces,
// as applied, and that its rule is the route's rule.
func (im *importer) verify(ctx context.Context, m *model.Model, srv *server) error {
	out, err := im.render(m, srv)
	if err != nil {
		return err
	}
	if len(engine.Conflicts(m)) > 0 || len(engine.Doubled(m)) > 0 {
		return fmt.Errorf("the fields read from the engine line do not agree with it: %s", strings.Join(append(engine.Conflicts(m), engine.Doubled(m)...), "; "))
	}
	originals := map[string]*unstructured.Unstructured{}
	for _, o := range []*unstructured.Unstructured{srv.workload, srv.svc, srv.backend, srv.serviceBackend} {
		if o != nil {
			originals[o.GetKind()+"/"+o.GetName()] = o
		}
	}
	for _, o := range out.Objects {
		key := o.GetKind() + "/" + o.GetName()
		if gateway.IsRoute(o) {
			if err := sameRule(o.Unstructured, srv.rule); err != nil {
				return err
			}
			continue
		}
		if gateway.Is(o, gateway.SecurityPolicy) {
			continue
		}
		orig, ok := originals[key]
		if !ok {
			return fmt.Errorf("the Model would also create %s", key)
		}
		applied, err := im.applied(ctx, o.Unstructured)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		a, err := comparable(applied)
		if err != nil {
			return err
		}
		b, err := comparable(im.live[orig])
		if err != nil {
			return err
		}
		if d := cmp.Diff(b, a); d != "" {
			return fmt.Errorf("the Model would change %s (-live +generated):\n%s", key, d)
		}
	}
	return nil
}

// sameRule checks the generated route holds the original rule, give or take
// the rule name modelsync adds.
func sameRule(route *unstructured.Unstructured, want map[string]any) error {
	key := gateway.RuleKey(want)
	for _, it := range gateway.Items(route) {
		if it.Key != key {
			continue
		}
		got := runtime.DeepCopyJSON(it.Value)
		if _, named := want["name"]; !named {
			delete(got, "name")
		}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("the Model would change rule %s (-live +generated):\n%s", key, d)
		}
		return nil
	}
	return fmt.Errorf("the Model generates no rule %s", key)
}

// removeItem drops the keyed entry from a shared object.
func removeItem(u *unstructured.Unstructured, key string) {
	_ = gateway.SetItems(u, slices.DeleteFunc(gateway.Items(u), func(it gateway.Item) bool { return it.Key == key }))
}

// targetKey is a policy's targetRef key for the AIServiceBackend name.
func targetKey(name string) string {
	return gateway.TargetRefKey(gateway.RefTo(gateway.ServiceBackend, name))
}
