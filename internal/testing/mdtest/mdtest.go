// Package mdtest reads a merge request note as GitLab's markdown does, far
// enough to tell what a reviewer sees as text and what as code.
package mdtest

import (
	"regexp"
	"strings"
)

var (
	htmlCode    = regexp.MustCompile(`<code>[^<]*</code>`)
	htmlComment = regexp.MustCompile(`<!--[^>]*-->`)
	fenceOpen   = regexp.MustCompile("^(`{3,})")
)

// OutsideCode is the note with every fenced code block, code span, <code>
// element and HTML comment removed: what GitLab renders as markdown and HTML
// and scans for mentions, references and quick actions. It reads code as
// CommonMark does (a span closes only on a backtick run of its own length,
// a fence only on a line of at least its own backticks), a table row's
// cells split on unescaped | first, and is strict where the two could
// differ: a span that does not close on its line is not code.
func OutsideCode(note string) string {
	var out []string
	fence := ""
	for _, line := range strings.Split(note, "\n") {
		if fence != "" {
			if t := strings.TrimSpace(line); strings.Trim(t, "`") == "" && len(t) >= len(fence) {
				fence = ""
			}
			continue
		}
		if m := fenceOpen.FindStringSubmatch(line); m != nil {
			fence = m[1]
			continue
		}
		line = htmlComment.ReplaceAllString(htmlCode.ReplaceAllString(line, ""), "")
		if strings.HasPrefix(strings.TrimSpace(line), "|") {
			var cells []string
			for _, c := range splitCells(line) {
				cells = append(cells, spansRemoved(c))
			}
			out = append(out, strings.Join(cells, "|"))
			continue
		}
		out = append(out, spansRemoved(line))
	}
	return strings.Join(out, "\n")
}

// splitCells splits a table row on the | that are not escaped.
func splitCells(row string) []string {
	var cells []string
	start := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			cells = append(cells, row[start:i])
			start = i + 1
		}
	}
	return append(cells, row[start:])
}

// spansRemoved removes the code spans of one line.
func spansRemoved(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '`' {
			b.WriteByte(s[i])
			i++
			continue
		}
		n := run(s, i)
		closeAt := -1
		for j := i + n; j < len(s); {
			if s[j] == '`' {
				m := run(s, j)
				if m == n {
					closeAt = j
					break
				}
				j += m
				continue
			}
			j++
		}
		if closeAt < 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		i = closeAt + n
	}
	return b.String()
}

func run(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}
