package modelfiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"

	"sigs.k8s.io/yaml"
)

// LockFile is the lock's name at the root of a models-config tree.
const LockFile = "modelsync.lock"

// MaxLockSize bounds the lock as a manifest is bounded: about 6,000 models.
const MaxLockSize = 4 << 20

// Lock holds the Facts of each upstream@revision the tree's Models name,
// written by `modelsync lock` and read by every other command, which never
// reads the network: a merge request's validate and diff stay offline and
// reproducible, and a reviewer reads what changed, as in go.sum.
type Lock struct {
	Models map[string]*Facts `json:"models"`
}

// Key names a model's files at a revision.
func Key(repo, revision string) string { return repo + "@" + revision }

// ReadLock reads the lock under root; no lock is an empty one. The lock is
// input like the tree (a merge request can change it): only a regular file
// is read, a link or a device refused before it is opened, at most
// MaxLockSize bytes, and every fact is range-checked.
func ReadLock(fsys fs.FS, root string) (*Lock, error) {
	name := path.Join(root, LockFile)
	fi, err := fs.Lstat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return &Lock{Models: map[string]*Facts{}}, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s): the lock is read only as a file of the tree; delete it and run modelsync lock", name, fi.Mode().Type())
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxLockSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxLockSize {
		return nil, fmt.Errorf("%s: more than %d bytes: write it again with modelsync lock", name, MaxLockSize)
	}
	return ParseLock(data, name)
}

// ParseLock reads a lock's text; name says where it came from in errors,
// which give the line of the entry at fault. The lock returned holds the
// entries that passed, so one bad entry never sizes a model.
func ParseLock(data []byte, name string) (*Lock, error) {
	l := &Lock{}
	if err := yaml.UnmarshalStrict(data, l); err != nil {
		return nil, fmt.Errorf("%s: %w (write it again with modelsync lock)", name, err)
	}
	if l.Models == nil {
		l.Models = map[string]*Facts{}
	}
	var errs []error
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range l.Models {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := l.Models[key].Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w (write it again with modelsync lock)", name, lineOf(data, key), key, err))
			delete(l.Models, key) // never sized from
		}
	}
	return l, errors.Join(errs...)
}

// lineOf is the line of data where key is written as a mapping key, or 0.
func lineOf(data []byte, key string) int {
	re := regexp.MustCompile(`(?m)^\s*["']?` + regexp.QuoteMeta(key) + `["']?:`)
	loc := re.FindIndex(data)
	if loc == nil {
		return 0
	}
	return bytes.Count(data[:loc[0]], []byte("\n")) + 1
}

// Marshal writes the lock with a header.
func (l *Lock) Marshal() ([]byte, error) {
	data, err := yaml.Marshal(l)
	if err != nil {
		return nil, err
	}
	header := "# Written by modelsync lock: what sizing reads from each model's files (config.json and\n" +
		"# safetensors headers) at its resolved commit. Commit it with the tree; do not edit it.\n"
	return append([]byte(header), data...), nil
}
