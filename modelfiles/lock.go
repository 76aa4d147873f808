package modelfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"sigs.k8s.io/yaml"
)

// LockFile is the lock's name at the root of a models-config tree.
const LockFile = "modelsync.lock"

// Lock holds the Facts of each upstream@revision the tree's Models name,
// written by `modelsync lock` and read by every other command, which never
// reads the network: a merge request's validate and diff stay offline and
// reproducible, and a reviewer reads what changed, as in go.sum.
type Lock struct {
	Models map[string]*Facts `json:"models"`
}

// Key names a model's files at a revision.
func Key(repo, revision string) string { return repo + "@" + revision }

// ReadLock reads the lock under root; no lock is an empty one.
func ReadLock(fsys fs.FS, root string) (*Lock, error) {
	l := &Lock{Models: map[string]*Facts{}}
	data, err := fs.ReadFile(fsys, path.Join(root, LockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, l); err != nil {
		return nil, fmt.Errorf("%s: %w (write it again with modelsync lock)", path.Join(root, LockFile), err)
	}
	if l.Models == nil {
		l.Models = map[string]*Facts{}
	}
	return l, nil
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
