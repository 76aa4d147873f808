package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Tree is a models-config tree to load: a file system and the tree's root in it.
type Tree struct {
	FS   fs.FS
	Root string
	// Revision is the git commit the tree was read from, or the work tree's HEAD
	// commit; empty outside a git repository.
	Revision string
	// Dirty is true when the tree was read from a work tree with uncommitted changes under Root.
	Dirty bool
	// RemoteBases lets a kustomization name remote resources (URLs, git
	// repositories), which kustomize then fetches; off, they are refused.
	RemoteBases bool
	// ID names the tree among all trees: its repository (the origin
	// remote, without credentials or scheme: gitlab.example.com/team/models)
	// and its path in it, "gitlab.example.com/team/models:models-config".
	// The same for a CI clone and a person's clone; empty outside a git
	// repository or without an origin remote.
	ID string
}

// WorkTree opens dir on disk. Origins are reported relative to dir's parent,
// Dir is the directory dir as a Tree, without git: its parent as the file
// system and its name as the root, so origins read <name>/<file>:<line>.
func Dir(dir string) Tree {
	dir = filepath.Clean(dir)
	return Tree{FS: os.DirFS(filepath.Dir(dir)), Root: filepath.Base(dir)}
}

// so files show as models-config/backend/qwen.yaml.
func WorkTree(dir string) (Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Tree{}, err
	}
	t := Dir(abs)
	repo, rel, err := openRepo(abs)
	if err != nil {
		return t, nil // not in a git repository: no revision to record
	}
	if head, err := repo.Head(); err == nil {
		t.Revision = head.Hash().String()
	}
	t.ID = treeID(repo, rel)
	if wt, err := repo.Worktree(); err == nil {
		if st, err := wt.StatusWithOptions(git.StatusOptions{Strategy: git.Preload}); err == nil {
			for file, s := range st {
				if s.Worktree != git.Unmodified || s.Staging != git.Unmodified {
					if rel == "." || strings.HasPrefix(file, filepath.ToSlash(rel)+"/") {
						t.Dirty = true
						break
					}
				}
			}
		}
	}
	return t, nil
}

// AtRevision reads dir as it was at a git revision (a branch, tag, commit or
// expression such as HEAD~1) without touching the work tree.
func AtRevision(dir, revision string) (Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Tree{}, err
	}
	repo, rel, err := openRepo(abs)
	if err != nil {
		return Tree{}, fmt.Errorf("git revision %s: %s is not in a git repository: %w", revision, dir, err)
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(revision))
	if err != nil {
		return Tree{}, fmt.Errorf("git revision %s: %w; give a branch, tag or commit that exists", revision, err)
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return Tree{}, fmt.Errorf("git revision %s: %w", revision, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return Tree{}, fmt.Errorf("git revision %s: %w", revision, err)
	}
	if rel != "." {
		if tree, err = tree.Tree(filepath.ToSlash(rel)); err != nil {
			return Tree{}, fmt.Errorf("git revision %s: %s does not exist at that revision: %w", revision, rel, err)
		}
	}
	files, err := treeFiles(tree, filepath.Base(abs))
	if err != nil {
		return Tree{}, fmt.Errorf("git revision %s: %w", revision, err)
	}
	return Tree{FS: files, Root: filepath.Base(abs), Revision: hash.String(), ID: treeID(repo, rel)}, nil
}

// treeID is the tree's ID: the origin remote's host and path, and rel.
func treeID(repo *git.Repository, rel string) string {
	remote, err := repo.Remote("origin")
	if err != nil || len(remote.Config().URLs) == 0 {
		return ""
	}
	return RepositoryName(remote.Config().URLs[0]) + ":" + filepath.ToSlash(rel)
}

// RepositoryName is a git remote URL as host/path, whatever its form:
// https://user:token@gitlab.example.com/team/models.git,
// ssh://git@gitlab.example.com:2222/team/models and
// git@gitlab.example.com:team/models.git all name
// gitlab.example.com/team/models.
func RepositoryName(url string) string {
	s := url
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else if at, colon := strings.Index(s, "@"), strings.Index(s, ":"); colon > at && at >= 0 {
		s = s[:colon] + "/" + s[colon+1:] // scp-like: git@host:path
	}
	if at := strings.LastIndex(strings.SplitN(s, "/", 2)[0], "@"); at >= 0 {
		s = s[at+1:]
	}
	host, path, _ := strings.Cut(s, "/")
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h // a port
	}
	return strings.ToLower(host) + "/" + strings.TrimSuffix(strings.Trim(path, "/"), ".git")
}

func openRepo(abs string) (*git.Repository, string, error) {
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(wt.Filesystem.Root(), abs)
	if err != nil {
		return nil, "", err
	}
	return repo, rel, nil
}

// treeFiles copies a git tree's blobs into an in-memory file system under
// prefix. fstest.MapFS is the standard library's read-only in-memory fs.FS.
func treeFiles(tree *object.Tree, prefix string) (fs.FS, error) {
	files := fstest.MapFS{}
	err := tree.Files().ForEach(func(f *object.File) error {
		if !f.Mode.IsFile() {
			return nil
		}
		if f.Size > MaxFileSize {
			files[prefix+"/"+f.Name] = &fstest.MapFile{Data: make([]byte, MaxFileSize+1)}
			return nil
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		files[prefix+"/"+f.Name] = &fstest.MapFile{Data: data, Mode: 0o644}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("the tree is empty at that revision")
	}
	return files, nil
}

// Descends reports whether commit newer is older or a descendant of it, in
// the git repository holding dir; known is false when that repository does
// not hold both (a shallow clone, another repository).
func Descends(dir, older, newer string) (descends, known bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, false
	}
	repo, _, err := openRepo(abs)
	if err != nil {
		return false, false
	}
	a, err := repo.CommitObject(plumbing.NewHash(older))
	if err != nil {
		return false, false
	}
	b, err := repo.CommitObject(plumbing.NewHash(newer))
	if err != nil {
		return false, false
	}
	if a.Hash == b.Hash {
		return true, true
	}
	ok, err := a.IsAncestor(b)
	if err != nil {
		return false, false
	}
	return ok, true
}
