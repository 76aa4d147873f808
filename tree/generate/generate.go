package generate

import (
	"errors"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/parallel"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// Contribution is a list entry a Model put into a shared object.
type Contribution struct {
	Owner  manifest.ID
	Noun   string
	Key    string
	Model  string
	Origin manifest.Origin
}

// Output is the desired set after generation.
type Output struct {
	// Objects are the hand-written objects (shared ones with the models'
	// entries merged in) followed by the generated ones.
	Objects []manifest.Object
	// Contributions record which model put which entry into a shared object.
	Contributions []Contribution
}

// Objects turns models into objects in namespace ns and merges their rules
// and targetRefs into the shared objects among raw (the hand-written objects).
// raw is not modified.
func Objects(models []model.Model, raw []manifest.Object, ns string) (Output, error) {
	g := &generator{ns: ns, byName: map[string]*model.Model{}, shared: map[manifest.ID]int{}}
	for i := range raw {
		o := manifest.Object{Unstructured: raw[i].DeepCopy(), Origin: raw[i].Origin}
		g.out.Objects = append(g.out.Objects, o)
		if _, ok := gateway.ItemListFor(o.Unstructured); ok {
			g.shared[g.key(o)] = len(g.out.Objects) - 1
		}
	}
	for i := range models {
		g.byName[models[i].Name()] = &models[i]
	}
	sorted := make([]*model.Model, len(models))
	for i := range models {
		sorted[i] = &models[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ServedName() < sorted[j].ServedName() })
	g.models(sorted)
	g.routes(sorted)
	g.catalogues()
	return g.out, errors.Join(g.errs...)
}

type generator struct {
	ns     string
	out    Output
	byName map[string]*model.Model
	// shared indexes out.Objects by kind/name for the objects with keyed lists.
	shared map[manifest.ID]int
	errs   []error
}

func (g *generator) key(o manifest.Object) manifest.ID {
	id := o.ID()
	id.Namespace = ""
	return id
}

func (g *generator) fail(m *model.Model, msg, hint string) {
	g.errs = append(g.errs, modelError(m, msg, hint))
}

func modelError(m *model.Model, msg, hint string) error {
	return &model.Error{Origin: m.Origin, Model: m.Name(), Msg: msg, Hint: hint}
}

// emit adds one of m's objects to the output.
func (g *generator) emit(m *model.Model, obj *unstructured.Unstructured) {
	g.out.Objects = append(g.out.Objects, manifest.Object{Unstructured: obj, Origin: m.Origin})
}

// models writes the objects that belong to each model alone, on every
// core, then what the models add to shared objects, in order.
func (g *generator) models(sorted []*model.Model) {
	owned := make([]ownObjects, len(sorted))
	parallel.For(len(sorted), func(i int) { owned[i] = ownOf(sorted[i], g.ns) })
	for i, m := range sorted {
		for _, o := range owned[i].objects {
			g.emit(m, o)
		}
		g.errs = append(g.errs, owned[i].errs...)
		if owned[i].backend && m.Spec.APIKey != "" {
			g.addTarget(m, gateway.ID(gateway.SecurityPolicy, "", m.Spec.APIKey),
				gateway.RefTo(gateway.ServiceBackend, m.BackendName()),
				"add the BackendSecurityPolicy holding this API key to models-config (the runbook's securitypolicy.yaml)")
		}
	}
}

// ownObjects are the objects that belong to one model alone, and the
// errors writing them.
type ownObjects struct {
	objects []*unstructured.Unstructured
	errs    []error
	// backend: the model is reached through its own AIServiceBackend.
	backend bool
}

// ownOf writes m's own objects in namespace ns.
func ownOf(m *model.Model, ns string) ownObjects {
	var own ownObjects
	fail := func(msg, hint string) { own.errs = append(own.errs, modelError(m, msg, hint)) }
	if len(m.Spec.Combine) > 0 {
		return own // a combined model only has its rule
	}
	if s := m.Spec.Server; s != nil && s.MultiNode() {
		lws, err := leaderWorkerSet(m, ns, s.ResolvedVariants()[0])
		if err != nil {
			fail(err.Error(), "give a Kubernetes quantity such as 64Gi or 8")
		} else {
			own.objects = append(own.objects, lws)
		}
		own.objects = append(own.objects, service(m, ns))
	} else if m.Spec.Server != nil {
		for _, r := range m.Spec.Server.ResolvedVariants() {
			sts, err := statefulSet(m, ns, r)
			if err != nil {
				fail(err.Error(), "give a Kubernetes quantity such as 64Gi or 8")
				continue
			}
			own.objects = append(own.objects, sts)
		}
		own.objects = append(own.objects, service(m, ns))
	}
	if m.Spec.Pool != nil {
		if m.Spec.Server == nil || m.Spec.APIKey != "" {
			fail("a pool routes to pods served here, with no AIServiceBackend for an API key to target", "use pool with server and without apiKey")
			return own
		}
		own.objects = append(own.objects, pool(m, ns)...)
		return own
	}
	own.objects = append(own.objects, backend(m, ns), serviceBackend(m, ns))
	own.backend = true
	return own
}

// backendRefs of m's rule: its own backend, or the backends it combines.
func (g *generator) backendRefs(m *model.Model) []any {
	if len(m.Spec.Combine) == 0 {
		if m.Spec.Pool != nil {
			return []any{poolRef(m)}
		}
		return []any{backendRef(m)}
	}
	var refs []any
	for _, name := range m.Spec.Combine {
		other, ok := g.byName[name]
		switch {
		case !ok:
			g.fail(m, fmt.Sprintf("combines %q, which is not a Model in the tree", name), "name a Model by its metadata.name")
		case len(other.Spec.Combine) > 0:
			g.fail(m, fmt.Sprintf("combines %q, which is itself a combined model", name), "combine the models it combines instead")
		case other.Spec.Pool != nil:
			g.fail(m, fmt.Sprintf("combines %q, which is served through an InferencePool", name),
				"a rule cannot mix an InferencePool with AIServiceBackends, and holds one pool: its endpoint picker already balances the pool's pods")
		default:
			refs = append(refs, backendRef(other))
		}
	}
	return refs
}

func (g *generator) addTarget(m *model.Model, owner manifest.ID, ref map[string]any, hint string) {
	i, ok := g.shared[owner]
	if !ok {
		g.fail(m, fmt.Sprintf("%s %s is not in the tree", owner.Kind, owner.Name), hint)
		return
	}
	obj := g.out.Objects[i]
	items := gateway.Items(obj.Unstructured)
	key := gateway.TargetRefKey(ref)
	g.out.Contributions = append(g.out.Contributions, Contribution{Owner: obj.ID(), Noun: gateway.NounTargetRef, Key: key, Model: m.Name(), Origin: m.Origin})
	for _, it := range items {
		if it.Key == key {
			return
		}
	}
	items = append(items, gateway.Item{Noun: gateway.NounTargetRef, Key: key, Value: ref})
	if err := gateway.SetItems(obj.Unstructured, items); err != nil {
		g.fail(m, err.Error(), "")
	}
}
