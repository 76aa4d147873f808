package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"modelsync.dev/modelsync/internal/parallel"
)

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Load reads every *.yaml / *.yml file below root in fsys, in lexical order.
// A directory holding a kustomization is built with kustomize instead, and the
// files below it are not read one by one. Errors from every file are joined, so
// one run reports every broken file.
func Load(ctx context.Context, tree Tree) ([]Object, error) {
	fsys, root := tree.FS, tree.Root
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
	var files []file
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
		data, err := readTreeFile(fsys, root, p)
		if err != nil {
			err = locate(p, err)
		}
		files = append(files, file{path: p, data: data, err: err})
		return nil
	})
	if walkErr != nil {
		return nil, fmt.Errorf("read %s: %w", root, walkErr)
	}
	for _, f := range decodeAll(files) {
		objs = append(objs, f.objs...)
		if f.err != nil {
			errs = append(errs, f.err)
		}
	}
	for _, dir := range kustomized {
		got, err := buildKustomization(tree, dir)
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

// locate places a file's read error at the file.
func locate(p string, err error) error {
	var located *Error
	if errors.As(err, &located) {
		return err
	}
	return &Error{Origin{File: p}, err.Error()}
}

// file is one file of the tree, read, and what decoding it gave.
type file struct {
	path string
	data []byte
	objs []Object
	err  error
}

// decodeAll decodes the files that were read, on every core, keeping
// their order.
func decodeAll(files []file) []file {
	parallel.For(len(files), func(i int) {
		if files[i].err == nil {
			files[i].objs, files[i].err = Decode(files[i].path, files[i].data)
		}
	})
	return files
}
