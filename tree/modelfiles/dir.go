package modelfiles

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir reads a model's files from a local directory (a copy for an
// air-gapped cluster, or a Hugging Face cache snapshot
// $HF_HUB_CACHE/models--org--name/snapshots/<commit>/).
type Dir struct {
	Path string
	// Revision is what the directory holds; its commit as far as the lock
	// is concerned.
	Revision string
}

func (d Dir) String() string { return d.Path }

// Commit is the directory's revision, or the snapshot directory's name.
func (d Dir) Commit(context.Context) (string, error) {
	if d.Revision != "" {
		return d.Revision, nil
	}
	return filepath.Base(d.Path), nil
}

// Files lists the directory's files, following the cache's symbolic links.
func (d Dir) Files(context.Context) ([]string, error) {
	var files []string
	err := filepath.WalkDir(d.Path, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(d.Path, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	return files, err
}

// ReadRange reads with ReadAt.
func (d Dir) ReadRange(_ context.Context, path string, off, n int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(d.Path, filepath.FromSlash(path)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n = max(0, min(n, info.Size()-off))
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:got], nil
}
