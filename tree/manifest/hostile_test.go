package manifest_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"modelsync.dev/modelsync/tree/manifest"
)

const plainCM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"

// A tree a merge request controls can hold links out of it, devices,
// FIFOs and huge files. Each is an error naming the file, every load ends
// within a bound, and none costs memory in proportion to what it points
// at.
func TestHostileTrees(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, tree string)
		want string // in the error; "" for no error
	}{
		{"a link to a file outside the tree", func(t *testing.T, tree string) {
			outside := filepath.Join(t.TempDir(), "secret.yaml")
			write(t, filepath.Dir(outside), map[string]string{"secret.yaml": plainCM})
			symlink(t, outside, filepath.Join(tree, "out.yaml"))
		}, "out.yaml: a symbolic link to"},
		{"a relative link climbing out", func(t *testing.T, tree string) {
			write(t, filepath.Dir(tree), map[string]string{"beside.yaml": plainCM})
			symlink(t, "../beside.yaml", filepath.Join(tree, "up.yaml"))
		}, "outside the tree"},
		{"a link to /dev/zero", func(t *testing.T, tree string) {
			symlink(t, "/dev/zero", filepath.Join(tree, "zero.yaml"))
		}, "zero.yaml: a symbolic link to /dev/zero"},
		{"a link to /dev/stdin", func(t *testing.T, tree string) {
			symlink(t, "/dev/stdin", filepath.Join(tree, "stdin.yaml"))
		}, "stdin.yaml: a symbolic link to /dev/stdin"},
		{"a FIFO", func(t *testing.T, tree string) {
			if err := syscall.Mkfifo(filepath.Join(tree, "pipe.yaml"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "pipe.yaml: not a regular file but a named pipe"},
		{"a huge sparse file", func(t *testing.T, tree string) {
			sparse(t, filepath.Join(tree, "huge.yaml"), 400<<20)
		}, "huge.yaml: file is more than the 8388608 bytes"},
		{"a link to a file inside the tree", func(t *testing.T, tree string) {
			write(t, tree, map[string]string{"shared/c.yaml": plainCM})
			symlink(t, "shared/c.yaml", filepath.Join(tree, "alias.yml"))
		}, ""},
		{"a kustomization beside a huge file and .git", func(t *testing.T, tree string) {
			write(t, tree, map[string]string{"app/kustomization.yaml": "resources: [c.yaml]\n", "app/c.yaml": plainCM})
			sparse(t, filepath.Join(tree, "app", "model.safetensors"), 400<<20)
			sparse(t, filepath.Join(tree, ".git", "objects", "pack.pack"), 400<<20)
		}, ""},
		{"a kustomization naming a link to /dev/zero", func(t *testing.T, tree string) {
			write(t, tree, map[string]string{"app/kustomization.yaml": "resources: [z.yaml]\n"})
			symlink(t, "/dev/zero", filepath.Join(tree, "app", "z.yaml"))
		}, "app/z.yaml: a symbolic link to /dev/zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tree := filepath.Join(root, "models-config")
			write(t, tree, map[string]string{"ok.yaml": plainCM})
			tc.make(t, tree)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			errc := make(chan error, 1)
			go func() {
				_, err := manifest.Load(t.Context(), manifest.Dir(tree))
				errc <- err
			}()
			var err error
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("the load did not end within 20s")
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("the load allocated %d MiB", alloc>>20)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("load: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("load: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// A kustomization naming a URL or a git repository is refused before
// anything is fetched, unless the tree allows remote bases.
func TestRemoteBasesAreRefused(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(plainCM))
	}))
	defer srv.Close()
	for _, k := range []string{
		"resources: [" + srv.URL + "/c.yaml]\n",
		"resources: ['https://github.com/org/repo//deploy?ref=v1']\n",
		"resources: [github.com/org/repo/deploy]\n",
		"resources: ['git@gitlab.com:org/repo.git']\n",
		"patches:\n- path: " + srv.URL + "/patch.yaml\n",
		"configMapGenerator:\n- name: x\n  files: [key=" + srv.URL + "/k]\n",
		"components: [" + srv.URL + "/comp]\n",
	} {
		tree := filepath.Join(t.TempDir(), "models-config")
		write(t, tree, map[string]string{"kustomization.yaml": k})
		_, err := manifest.Load(t.Context(), manifest.Dir(tree))
		if err == nil || !strings.Contains(err.Error(), "--allow-remote-bases") || !strings.Contains(err.Error(), "kustomization.yaml") {
			t.Errorf("%s: %v, want refused naming the flag", k, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server was asked %d times", n)
	}
	dir := filepath.Join(t.TempDir(), "models-config")
	write(t, dir, map[string]string{"kustomization.yaml": "resources: [" + srv.URL + "/c.yaml]\n"})
	allowed := manifest.Dir(dir)
	allowed.RemoteBases = true
	objs, err := manifest.Load(t.Context(), allowed)
	if err != nil || len(objs) != 1 || hits.Load() != 1 {
		t.Errorf("with remote bases allowed: %d objects, %d fetches, %v", len(objs), hits.Load(), err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func sparse(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}
