package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Load reads every *.yaml / *.yml file below root in fsys, in lexical order.
// A directory holding a kustomization is built with kustomize instead, and the
// files below it are not read one by one. Errors from every file are joined, so
// one run reports every broken file.
func Load(ctx context.Context, fsys fs.FS, root string) ([]Object, error) {
	info, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	var objs []Object
	var errs []error
	var kustomized []string
	walkErr := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if k := kustomizationIn(fsys, p); k != "" {
				kustomized = append(kustomized, p)
				return fs.SkipDir
			}
			return nil
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		got, err := Decode(p, data)
		objs = append(objs, got...)
		if err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if walkErr != nil {
		return nil, fmt.Errorf("read %s: %w", root, walkErr)
	}
	for _, dir := range kustomized {
		got, err := buildKustomization(fsys, root, dir)
		objs = append(objs, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Origin.File < objs[j].Origin.File })
	return objs, errors.Join(errs...)
}

func kustomizationIn(fsys fs.FS, dir string) string {
	for _, n := range kustomizationNames {
		if _, err := fs.Stat(fsys, path.Join(dir, n)); err == nil {
			return path.Join(dir, n)
		}
	}
	return ""
}

// buildKustomization runs kustomize on dir. kustomize reads through its own
// file system interface, so the tree (which may be a git revision) is copied
// into memory first; a kustomization may refer to files anywhere under root.
func buildKustomization(fsys fs.FS, root, dir string) ([]Object, error) {
	origin := Origin{File: kustomizationIn(fsys, dir)}
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+p, data)
	})
	if err != nil {
		return nil, &Error{origin, "read kustomization inputs: " + err.Error()}
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/"+dir)
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
