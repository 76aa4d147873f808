// Package markdown is the one path by which text from a tree or a cluster
// enters a merge request note: as code, which GitLab renders literally and
// scans for no mentions, references or quick actions. A hostile merge
// request's names, file names and diffs cannot add headings, images,
// mentions, HTML or commands to the note a reviewer approves from.
package markdown

import (
	"strings"
	"unicode"
)

// breaks are the characters that end a line for some reader of the note:
// GitLab's markdown, its quick-action scanner, a browser.
var breaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\v", " ", "\f", " ", "\u0085", " ", "\u2028", " ", "\u2029", " ")

// oneLine puts s on one line and drops other control characters.
func oneLine(s string) string {
	s = breaks.Replace(s)
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// Code is s as an inline code span on one line, with a backtick run longer
// than any inside it.
func Code(s string) string {
	s = oneLine(s)
	tick := "`"
	for strings.Contains(s, tick) {
		tick += "`"
	}
	return tick + " " + s + " " + tick
}

// Cell is s as a code span inside a table row: a | would end the cell even
// inside code, so it is escaped as GitLab's tables want (and a backslash
// before it kept apart, so that it cannot escape the escape). Empty stays
// empty.
func Cell(s string) string {
	if s == "" {
		return ""
	}
	return Code(strings.ReplaceAll(strings.ReplaceAll(s, `\|`, `\ |`), "|", `\|`))
}

// CellText is Text inside a table row: s as it is when plain, else Cell.
func CellText(s string) string {
	if plain(s) {
		return s
	}
	return Cell(s)
}

// Text is s as it is when it holds only letters, digits and plain
// punctuation that no markdown reader gives a meaning (numbers, units,
// resource names such as nvidia.com/gpu), else as Code.
func Text(s string) string {
	if plain(s) {
		return s
	}
	return Code(s)
}

func plain(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" .,:;/()+-→=%", r)) {
			return false
		}
	}
	return !strings.HasPrefix(s, "/") // a quick action, were it written at a line's start
}

// Fence is s as a fenced code block, with a fence longer than any backtick
// run inside it, and lang as its info string; "" for empty s. Line breaks
// other than \n (\r, U+2028) are written as \n, so that no line of s can
// end the block early for any reader.
func Fence(s, lang string) string {
	if s == "" {
		return ""
	}
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\v", "\n", "\f", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(s)
	f := "```"
	for strings.Contains(s, f) {
		f += "`"
	}
	return f + lang + "\n" + s + "\n" + f + "\n"
}

// HTMLCode is s as an HTML <code> element on one line, for places where
// markdown is not read (a <summary>).
func HTMLCode(s string) string {
	return "<code>" + strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(oneLine(s)) + "</code>"
}

// Label is s reduced to characters that mean nothing in a Mermaid string or
// a markdown fence: letters, digits, . / _ - ( ) and space; anything else
// becomes _.
func Label(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" ./_-()", r)) {
			return r
		}
		return '_'
	}, s)
}
