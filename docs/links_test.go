// Package docs_test checks the user documentation: README.md and docs/.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"modelsync.dev/modelsync/internal/testing/mdtest"
)

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
)

// pages are the documents a user reads, relative to the repository root.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md"}
	for _, d := range docs {
		out = append(out, filepath.Join("docs", d))
	}
	return out
}

// Every relative link of the README and docs/ names a file or folder that
// exists, and every #anchor a heading of the page it points into (GitHub's
// and GitLab's slugs); links inside code are not links.
func TestLinksResolve(t *testing.T) {
	root := ".."
	anchors := map[string]map[string]bool{}
	slugsOf := func(page string) map[string]bool {
		if s, ok := anchors[page]; ok {
			return s
		}
		data, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			return nil
		}
		s := map[string]bool{}
		for _, m := range heading.FindAllStringSubmatch(fencesRemoved(string(data)), -1) {
			s[Slug(m[1])] = true
		}
		anchors[page] = s
		return s
	}
	for _, page := range pages(t) {
		data, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(mdtest.OutsideCode(string(data)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := page
			if path != "" {
				dest = filepath.Join(filepath.Dir(page), path)
				if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
					t.Errorf("%s: link %s: %s does not exist", page, target, dest)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(dest, ".md") && !slugsOf(dest)[anchor] {
				t.Errorf("%s: link %s: %s has no heading #%s", page, target, dest, anchor)
			}
		}
	}
}

// The README is a front door: at most 200 lines, the two commands at the
// top, the GitLab block within the first 80 lines.
func TestReadmeIsAFrontDoor(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 201 {
		t.Errorf("README.md has %d lines, want at most 200: move reference material to docs/", len(lines)-1)
	}
	first := func(s string) int {
		for i, l := range lines {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		return 0
	}
	if n := first("make run"); n == 0 || n > 20 {
		t.Errorf("`make run` first appears at line %d, want within the first 20", n)
	}
	if n := first("make test"); n == 0 || n > 20 {
		t.Errorf("`make test` first appears at line %d, want within the first 20", n)
	}
	if n := first("include:"); n == 0 || n > 80 {
		t.Errorf("the GitLab include block starts at line %d, want within the first 80", n)
	}
}

// Slug is a heading's anchor as GitHub and GitLab make it: lower case,
// markup and punctuation other than - and _ dropped, spaces as -.
func Slug(h string) string {
	h = strings.ToLower(strings.NewReplacer("`", "", "*", "").Replace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fencesRemoved is text without its fenced code blocks, whose # lines are
// not headings.
func fencesRemoved(text string) string {
	var out []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if !in {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
