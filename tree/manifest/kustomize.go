package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// buildKustomization runs kustomize on dir. kustomize reads through its own
// file system interface; treeFS gives it the files of the tree it asks for
// and nothing else, read as every tree file is (readTreeFile), so a
// kustomization costs what it names, not what lies beside it.
func buildKustomization(tree Tree, dir string) ([]Object, error) {
	origin := Origin{File: kustomizationIn(tree.FS, dir)}
	tfs := &treeFS{FileSystem: filesys.MakeFsInMemory(), tree: tree, loaded: map[string]bool{}}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(tfs, "/"+dir)
	if tfs.err != nil { // the precise reason, which kustomize may have wrapped or dropped
		return nil, &Error{origin, tfs.err.Error()}
	}
	if err != nil {
		return nil, &Error{origin, "kustomize build: " + err.Error()}
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, &Error{origin, "kustomize output: " + err.Error()}
	}
	objs, err := Decode(origin.File, out)
	for i := range objs {
		objs[i].Origin = origin
	}
	return objs, err
}

// treeFS is kustomize's in-memory file system, filled from the tree on
// demand: a path is copied in when kustomize first asks about it (a
// directory's entries when it lists or globs it). A kustomization file that
// names something remote is refused unless the tree allows remote bases.
type treeFS struct {
	filesys.FileSystem
	tree   Tree
	loaded map[string]bool
	err    error
}

func (t *treeFS) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// load copies the tree's entry at the absolute path p (and its parents)
// into memory, once.
func (t *treeFS) load(p string) {
	rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/")
	if rel == "" || t.loaded[rel] {
		return
	}
	t.loaded[rel] = true
	if dir := path.Dir(rel); dir != "." {
		t.load("/" + dir)
	}
	fi, err := fs.Stat(t.tree.FS, rel)
	switch {
	case err != nil:
		return // kustomize says what is missing
	case fi.IsDir():
		_ = t.FileSystem.MkdirAll("/" + rel)
		return
	}
	data, err := readTreeFile(t.tree.FS, t.tree.Root, rel)
	if err != nil {
		_ = t.fail(err)
		return
	}
	if isKustomization(rel) && !t.tree.RemoteBases {
		if err := refuseRemote(t.tree.FS, rel, data); err != nil {
			_ = t.fail(err)
			return
		}
	}
	_ = t.FileSystem.WriteFile("/"+rel, data)
}

// loadEntries loads what the directory p holds.
func (t *treeFS) loadEntries(p string) {
	t.load(p)
	rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/")
	if rel == "" {
		rel = "."
	}
	entries, err := fs.ReadDir(t.tree.FS, rel)
	if err != nil {
		return
	}
	for _, e := range entries {
		t.load("/" + path.Join(rel, e.Name()))
	}
}

func (t *treeFS) Open(p string) (filesys.File, error) { t.load(p); return t.FileSystem.Open(p) }
func (t *treeFS) IsDir(p string) bool                 { t.load(p); return t.FileSystem.IsDir(p) }
func (t *treeFS) Exists(p string) bool                { t.load(p); return t.FileSystem.Exists(p) }
func (t *treeFS) ReadFile(p string) ([]byte, error) {
	t.load(p)
	if t.err != nil {
		return nil, t.err
	}
	return t.FileSystem.ReadFile(p)
}
func (t *treeFS) ReadDir(p string) ([]string, error) {
	t.loadEntries(p)
	return t.FileSystem.ReadDir(p)
}
func (t *treeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	t.load(p)
	return t.FileSystem.CleanedAbs(p)
}
func (t *treeFS) Glob(pattern string) ([]string, error) {
	t.loadEntries(path.Dir(filepath.ToSlash(pattern)))
	return t.FileSystem.Glob(pattern)
}
func (t *treeFS) Walk(p string, fn filepath.WalkFunc) error {
	return t.fail(fmt.Errorf("kustomize walked %s: modelsync reads only the files a kustomization names", p))
}

func isKustomization(p string) bool {
	for _, n := range kustomizationNames {
		if path.Base(p) == n {
			return true
		}
	}
	return false
}

// errRemote marks a kustomization entry that kustomize would fetch.
var errRemote = errors.New("remote")

// refuseRemote fails when the kustomization at p names anything kustomize
// would fetch (an http(s) URL, a git repository) instead of reading it from
// the tree: a merge request could otherwise make validate and diff fetch any
// URL, internal ones included, and print what they return.
func refuseRemote(fsys fs.FS, p string, data []byte) error {
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil // kustomize reports the syntax
	}
	var refs []string
	list := func(v any) {
		items, _ := v.([]any)
		for _, it := range items {
			switch it := it.(type) {
			case string:
				refs = append(refs, it)
			case map[string]any:
				if s, ok := it["path"].(string); ok {
					refs = append(refs, s)
				}
				for _, f := range []string{"files", "envs"} {
					for _, e := range asStrings(it[f]) {
						refs = append(refs, e[strings.Index(e, "=")+1:])
					}
				}
				if s, ok := it["env"].(string); ok {
					refs = append(refs, s)
				}
			}
		}
	}
	for _, f := range []string{"resources", "bases", "components", "crds", "configurations", "generators", "transformers",
		"validators", "patchesStrategicMerge", "patches", "patchesJson6902", "replacements", "configMapGenerator", "secretGenerator"} {
		list(k[f])
	}
	if o, ok := k["openapi"].(map[string]any); ok {
		if s, ok := o["path"].(string); ok {
			refs = append(refs, s)
		}
	}
	if _, ok := k["helmCharts"]; ok {
		return fmt.Errorf("%s: helmCharts: modelsync does not run helm or fetch charts; render the chart into the tree", p)
	}
	for _, r := range refs {
		if isRemote(fsys, path.Dir(p), r) {
			return fmt.Errorf("%s: %q is fetched from the network, which modelsync does not do for a tree (a merge request could make it fetch any URL); "+
				"vendor it into the tree, or pass --allow-remote-bases: %w", p, r, errRemote)
		}
	}
	return nil
}

func asStrings(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// isRemote is whether kustomize would fetch ref (named in the kustomization
// of dir) instead of reading it: a URL, a git address, or a host path
// (github.com/org/repo//dir?ref=v1) that is not a path of the tree.
func isRemote(fsys fs.FS, dir, ref string) bool {
	switch {
	case strings.Contains(ref, "://"), strings.HasPrefix(ref, "git@"), strings.HasPrefix(ref, "git::"),
		strings.Contains(ref, "?ref="), strings.Contains(ref, "?version="), strings.Contains(ref, "?submodules="):
		return true
	case path.IsAbs(ref):
		return false
	}
	first, _, _ := strings.Cut(ref, "/")
	if !strings.Contains(first, ".") || first == "." || first == ".." {
		return false
	}
	_, err := fs.Stat(fsys, path.Join(dir, ref))
	return err != nil
}
