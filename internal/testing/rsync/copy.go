package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// item is a source file and its name under the destination.
type item struct{ src, name string }

// run copies every source into the destination, then deletes what the
// destination holds beyond them, when asked to.
func (j *job) run() error {
	if err := os.MkdirAll(j.dest, 0o755); err != nil {
		return err
	}
	t := &transfer{job: j, kept: map[string]bool{}, dirs: map[string]bool{}}
	items, err := j.items()
	if err != nil {
		return err
	}
	for _, it := range items {
		t.copy(it.src, it.name)
	}
	if j.delete {
		for dir := range t.dirs {
			t.prune(dir)
		}
	}
	return errors.Join(t.errs...)
}

// items are the transfer's roots, named as rsync names them: with -R by the
// path as given (after a "/./" when it holds one), with --files-from by each
// listed path under the source, else by the base name, or as the
// destination itself for a source ending in "/" or "/.".
func (j *job) items() ([]item, error) {
	var items []item
	for _, s := range j.sources {
		switch {
		case j.filesFrom != "":
			lines, err := readLines(j.filesFrom)
			if err != nil {
				return nil, err
			}
			for _, l := range lines {
				if l = strings.TrimSpace(l); l != "" {
					items = append(items, item{filepath.Join(s, l), relName(l)})
				}
			}
		case j.relative:
			name := s
			if i := strings.LastIndex(s, "/./"); i >= 0 {
				name = s[i+3:]
			}
			items = append(items, item{s, relName(name)})
		case strings.HasSuffix(s, "/") || strings.HasSuffix(s, "/.") || s == ".":
			items = append(items, item{s, ""})
		default:
			items = append(items, item{s, filepath.Base(s)})
		}
	}
	return items, nil
}

// relName is a path relative to the destination: cleaned, without a
// leading "./" or "/".
func relName(p string) string {
	p = path.Clean("/" + filepath.ToSlash(p))
	return strings.TrimPrefix(p, "/")
}

type transfer struct {
	*job
	kept map[string]bool // names copied (and their implied parents)
	dirs map[string]bool // directories copied recursively
	errs []error
}

func (t *transfer) fail(err error) { t.errs = append(t.errs, err) }

func (t *transfer) excluded(name string, dir bool) bool {
	if name == "" {
		return false
	}
	for _, p := range t.excludes {
		if p.match(name, dir) {
			return true
		}
	}
	return false
}

// copy sends src as name: a directory with what it holds (-r), a symlink
// as a symlink, a file with its mode and modification time.
func (t *transfer) copy(src, name string) {
	fi, err := os.Lstat(src)
	if err != nil {
		t.fail(fmt.Errorf("link_stat %q: %w", src, err))
		return
	}
	if t.excluded(name, fi.IsDir()) {
		return
	}
	dst := filepath.Join(t.dest, filepath.FromSlash(name))
	for p := path.Dir(name); p != "." && p != "/" && !t.kept[p]; p = path.Dir(p) {
		t.kept[p] = true
	}
	if name != "" {
		t.kept[name] = true
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.fail(err)
		return
	}
	switch {
	case fi.IsDir():
		t.copyDir(src, dst, name, fi)
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err == nil {
			_ = os.RemoveAll(dst)
			err = os.Symlink(target, dst)
		}
		if err != nil {
			t.fail(err)
		}
	case fi.Mode().IsRegular():
		if err := copyFile(src, dst, fi); err != nil {
			t.fail(err)
		}
	default:
		t.fail(fmt.Errorf("%s: skipping non-regular file", src))
	}
}

func (t *transfer) copyDir(src, dst, name string, fi os.FileInfo) {
	if cur, err := os.Lstat(dst); err == nil && !cur.IsDir() {
		_ = os.Remove(dst)
	}
	if err := os.MkdirAll(dst, fi.Mode().Perm()|0o700); err != nil {
		t.fail(err)
		return
	}
	if !t.recursive {
		return
	}
	t.dirs[name] = true
	entries, err := os.ReadDir(src)
	if err != nil {
		t.fail(err)
		return
	}
	for _, e := range entries {
		t.copy(filepath.Join(src, e.Name()), path.Join(name, e.Name()))
	}
	_ = os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// prune deletes what the destination directory name holds and the sources
// did not send; an excluded entry stays unless --delete-excluded.
func (t *transfer) prune(name string) {
	entries, err := os.ReadDir(filepath.Join(t.dest, filepath.FromSlash(name)))
	if err != nil {
		t.fail(err)
		return
	}
	for _, e := range entries {
		n := path.Join(name, e.Name())
		if t.kept[n] || (t.excluded(n, e.IsDir()) && !t.deleteExcluded) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(t.dest, filepath.FromSlash(n))); err != nil {
			t.fail(err)
		}
	}
}

func copyFile(src, dst string, fi os.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if cur, err := os.Lstat(dst); err == nil && !cur.Mode().IsRegular() {
		_ = os.RemoveAll(dst)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}
