package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		dir, want     bool
	}{
		{".gitlab-ci-local/", ".gitlab-ci-local", true, true},
		{".gitlab-ci-local/", ".gitlab-ci-local", false, false},
		{".gitlab-ci-local/", "a/.gitlab-ci-local", true, true},
		{".gitlab-ci-local/**", ".gitlab-ci-local/x/y", false, true},
		{".gitlab-ci-local/**", ".gitlab-ci-local", true, false},
		{".git/lfs", ".git/lfs", true, true},
		{".git/lfs", "sub/.git/lfs", true, true},
		{".git/lfs", "x.git/lfs", true, false},
		{"/.gitlab-ci-reports/", ".gitlab-ci-reports", true, true},
		{"/.gitlab-ci-reports/", "a/.gitlab-ci-reports", true, false},
		{"*.log", "a/b/c.log", false, true},
		{"*.log", "a/b/c.log/d", false, false},
		{"a/*.yaml", "a/b.yaml", false, true},
		{"a/*.yaml", "a/b/c.yaml", false, false},
		{"a/**.yaml", "a/b/c.yaml", false, true},
		{"dir/***", "dir", true, true},
		{"dir/***", "dir/x/y", false, true},
		{"file?.txt", "file1.txt", false, true},
		{"[ab].txt", "b.txt", false, true},
		{"[!ab].txt", "b.txt", false, false},
	} {
		if got := newPattern(tc.pattern).match(tc.name, tc.dir); got != tc.want {
			t.Errorf("%q matching %q (dir %v): %v, want %v", tc.pattern, tc.name, tc.dir, got, tc.want)
		}
	}
}

// The command lines gitlab-ci-local runs: mirror the tracked files into its
// builds directory, export a job's artifacts, and copy them back.
func TestGitLabCILocalCopies(t *testing.T) {
	src := t.TempDir()
	write(t, src, map[string]string{
		"a.yaml": "a", "dir/b.yaml": "b", "dir/sub/c": "c", "untracked.txt": "u", "logs/x.log": "x",
		".gitlab-ci-local/state": "s", ".git/lfs/obj": "o", ".modelsync/plan.json": "{}",
	})
	if err := os.Symlink("a.yaml", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	excludes := filepath.Join(t.TempDir(), "exclude")
	if err := os.WriteFile(excludes, []byte("untracked.txt\nlogs/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	builds := filepath.Join(src, ".gitlab-ci-local", "builds", ".docker")
	write(t, builds, map[string]string{"stale": "old", "logs/x.log": "excluded but stale"})
	mirror := []string{"-a", "--delete-excluded", "--delete", "--exclude-from=" + excludes,
		"--exclude", ".git/lfs", "--exclude", ".gitlab-ci-local/", "./", ".gitlab-ci-local/builds/.docker/"}
	runIn(t, src, mirror...)
	if diff := cmp.Diff([]string{".git/", ".modelsync/", ".modelsync/plan.json", "a.yaml", "dir/", "dir/b.yaml", "dir/sub/", "dir/sub/c", "link"}, list(t, builds)); diff != "" {
		t.Errorf("mirrored tree (-want +got):\n%s", diff)
	}
	if target, err := os.Readlink(filepath.Join(builds, "link")); err != nil || target != "a.yaml" {
		t.Errorf("symlink copied as %q, %v", target, err)
	}

	files := filepath.Join(t.TempDir(), "files")
	if err := os.WriteFile(files, []byte(".modelsync/plan.json\ndir\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	artifacts := t.TempDir()
	runIn(t, src, "--exclude", ".gitlab-ci-local/**", "-rRa", "--exclude", "dir/sub/c", "--files-from="+files, ".", artifacts+"/.")
	runIn(t, src, "-Ra", "./a.yaml", artifacts+"/.gitlab-ci-reports/dotenv/.")
	if diff := cmp.Diff([]string{".gitlab-ci-reports/", ".gitlab-ci-reports/dotenv/", ".gitlab-ci-reports/dotenv/a.yaml", ".modelsync/", ".modelsync/plan.json", "dir/", "dir/b.yaml", "dir/sub/"}, list(t, artifacts)); diff != "" {
		t.Errorf("exported artifacts (-want +got):\n%s", diff)
	}

	back := t.TempDir()
	runIn(t, src, "--exclude=/.gitlab-ci-reports/", "-a", artifacts+"/.", back)
	if diff := cmp.Diff([]string{".modelsync/", ".modelsync/plan.json", "dir/", "dir/b.yaml", "dir/sub/"}, list(t, back)); diff != "" {
		t.Errorf("artifacts copied back (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(back, "dir", "b.yaml")); string(b) != "b" {
		t.Errorf("dir/b.yaml holds %q", b)
	}
}

func TestRefusesWhatItDoesNotDo(t *testing.T) {
	for _, args := range [][]string{{"-az", "a", "b"}, {"--checksum", "a", "b"}, {"a"}} {
		if _, err := parse(args); err == nil {
			t.Errorf("rsync %s: no error", strings.Join(args, " "))
		}
	}
}

func runIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	t.Chdir(dir)
	j, err := parse(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.run(); err != nil {
		t.Fatalf("rsync %s: %v", strings.Join(args, " "), err)
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}
