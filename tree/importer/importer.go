// Package importer turns a namespace as it runs (or the raw YAML it was
// applied from) into a models-config tree: a Model for each vLLM or SGLang
// StatefulSet it can express exactly, with its Service, Backend,
// AIServiceBackend, route rule and API key targetRef, and raw files for
// everything else. Exact means checked: every object a Model generates is
// compared with the object it replaces, through the API server's dry-run when
// there is one, and a Model that would change anything is not written.
package importer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/tree/modelfiles"
)

// Applied returns the object u would become if applied; the comparison of a
// generated object with the one it replaces is made on its result. Offline it
// is u itself; against a cluster it is a server-side dry-run, which fills in
// the defaults the live object carries.
type Applied func(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error)

// Offline compares objects as written.
func Offline(_ context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return u, nil
}

// Options says how objects are compared and where the models' files are read.
type Options struct {
	// Applied is how a generated object is compared: Offline, or a
	// server-side dry-run.
	Applied Applied
	// Facts reads a model's files (modelfiles.Read) at a revision ("main"
	// when the engine line pins none); nil leaves weightsGi and paramsB
	// estimated from the claim size.
	Facts func(ctx context.Context, repo, revision string) (*modelfiles.Facts, error)
}

// File is one file of the written tree, relative to models-config/.
type File struct {
	Path string
	Data []byte
}

// Result is the imported tree and what the import could not express.
type Result struct {
	Files []File
	// Models are the names of the Models written.
	Models []string
	// Raw counts the objects written as they are.
	Raw int
	// Notes say why a server stayed raw and which objects were left out.
	Notes []string
	// Lock holds the facts of the Models whose engine line pins a revision
	// (written as modelsync.lock beside them); empty without Options.Facts.
	Lock *modelfiles.Lock
}

// Import writes the tree for objs, which are the objects of namespace ns
// (live objects or raw YAML).
func Import(ctx context.Context, objs []*unstructured.Unstructured, ns string, opts Options) (*Result, error) {
	im := &importer{ns: ns, applied: opts.Applied, facts: opts.Facts, res: &Result{Lock: &modelfiles.Lock{Models: map[string]*modelfiles.Facts{}}},
		fromFiles: map[string]string{},
		live:      map[*unstructured.Unstructured]*unstructured.Unstructured{}, taken: map[*unstructured.Unstructured]bool{}}
	claimOf := statefulSetClaims(objs)
	derived := map[string]int{}
	for _, u := range objs {
		if why := leaveOut(u, claimOf); why != "" {
			if why == madeBy {
				derived[u.GetKind()]++
			} else {
				im.note("%s %s left out: %s", u.GetKind(), u.GetName(), why)
			}
			continue
		}
		c := clean(u, ns)
		im.objs = append(im.objs, c)
		im.live[c] = u
	}
	if len(derived) > 0 {
		var counts []string
		for _, kind := range slices.Sorted(maps.Keys(derived)) {
			counts = append(counts, fmt.Sprintf("%d %s", derived[kind], kind))
		}
		im.note("left out, as Kubernetes and its controllers make them again from the tree's objects (owned objects, StatefulSets' claims, run-time state): %s", strings.Join(counts, ", "))
	}
	var models []*model.Model
	for _, u := range im.objs {
		if op := operatorOf(u); op != "" {
			im.note("%s %s stays raw: %s runs its servers; modelsync applies and prunes it as written", u.GetKind(), u.GetName(), op)
		}
		if !isServer(u) {
			continue
		}
		m, err := im.fit(ctx, u)
		if err != nil {
			im.note("%s %s stays raw: %v", u.GetKind(), u.GetName(), err)
			continue
		}
		models = append(models, m)
	}
	models = im.routed(ctx, models)
	if err := im.write(models); err != nil {
		return nil, err
	}
	return im.res, nil
}

type importer struct {
	ns      string
	applied Applied
	facts   func(ctx context.Context, repo, revision string) (*modelfiles.Facts, error)
	// fromFiles names the commit whose files sized each Model.
	fromFiles map[string]string
	// objs are the objects as written to the tree; live maps each to the
	// object as read, which generated objects are compared with.
	objs []*unstructured.Unstructured
	live map[*unstructured.Unstructured]*unstructured.Unstructured
	// taken marks the objects a Model now generates, and entries moved out
	// of shared objects.
	taken map[*unstructured.Unstructured]bool
	res   *Result
}

func (im *importer) note(format string, a ...any) {
	im.res.Notes = append(im.res.Notes, fmt.Sprintf(format, a...))
}

// write lays the tree out as the runbook's repository does: models/ for
// Models, a directory per kind for the rest.
func (im *importer) write(models []*model.Model) error {
	for _, m := range models {
		data, err := modelYAML(m, im.fromFiles[m.Name()])
		if err != nil {
			return err
		}
		im.res.Files = append(im.res.Files, File{Path: "models/" + m.Name() + ".yaml", Data: data})
		im.res.Models = append(im.res.Models, m.Name())
	}
	for _, u := range im.objs {
		if im.taken[u] {
			continue
		}
		data, err := objectYAML(u)
		if err != nil {
			return err
		}
		dir := strings.ToLower(u.GetKind())
		im.res.Files = append(im.res.Files, File{Path: dir + "/" + u.GetName() + ".yaml", Data: data})
		im.res.Raw++
	}
	sort.Slice(im.res.Files, func(i, j int) bool { return im.res.Files[i].Path < im.res.Files[j].Path })
	return nil
}

// objectsOf returns the objects of the given kind.
func (im *importer) objectsOf(gk schema.GroupKind) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range im.objs {
		if gateway.Is(u, gk) && !im.taken[u] {
			out = append(out, u)
		}
	}
	return out
}
