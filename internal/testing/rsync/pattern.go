package main

import (
	"regexp"
	"strings"
)

// pattern is an rsync exclude pattern (rsync(1), "PATTERN MATCHING RULES"):
// a trailing "/" matches only directories; a leading "/" anchors it at the
// transfer's root, else it matches the end of the path; a pattern holding
// "/" or "**" is matched against the path, else against the last
// component; "*" stops at "/", "**" does not, "?" is one character but "/",
// and "dir/***" is dir and everything in it.
type pattern struct {
	re      *regexp.Regexp
	dirOnly bool
	whole   bool // matched against the whole path, not the last component
}

func newPattern(s string) pattern {
	p := pattern{}
	if strings.HasSuffix(s, "/") && len(s) > 1 {
		p.dirOnly, s = true, strings.TrimSuffix(s, "/")
	}
	anchored := strings.HasPrefix(s, "/")
	s = strings.TrimPrefix(s, "/")
	p.whole = anchored || strings.Contains(s, "/") || strings.Contains(s, "**")
	expr := glob(s)
	switch {
	case !p.whole:
		expr = "^" + expr + "$"
	case anchored:
		expr = "^" + expr + "$"
	default:
		expr = "(^|/)" + expr + "$"
	}
	p.re = regexp.MustCompile(expr)
	return p
}

// glob turns rsync's wildcards into a regular expression.
func glob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case strings.HasPrefix(s[i:], "/***") && i+4 == len(s):
			b.WriteString("(/.*)?")
			i += 3
		case strings.HasPrefix(s[i:], "**"):
			b.WriteString(".*")
			for i+1 < len(s) && s[i+1] == '*' {
				i++
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			if j := strings.IndexByte(s[i+1:], ']'); j >= 0 {
				class := s[i+1 : i+1+j]
				if strings.HasPrefix(class, "!") {
					class = "^" + class[1:]
				}
				b.WriteString("[" + class + "]")
				i += j + 1
				continue
			}
			b.WriteString(`\[`)
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// match reports whether the pattern excludes name (a path relative to the
// transfer's root, "/"-separated).
func (p pattern) match(name string, dir bool) bool {
	if p.dirOnly && !dir {
		return false
	}
	if !p.whole {
		name = name[strings.LastIndexByte(name, '/')+1:]
	}
	return p.re.MatchString(name)
}
