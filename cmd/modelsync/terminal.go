package main

import (
	"bytes"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// display is how a command's output may look: colour and a live progress
// line on a terminal; plain, one stable line per event in CI logs, pipes
// and files, as STYLE.md asks.
type display struct {
	color bool
	live  bool
}

// displayFor decides for w: a terminal gets colour (unless NO_COLOR is set
// or TERM is dumb) and live lines; anything else is plain.
func displayFor(w io.Writer) display {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return display{}
	}
	return display{color: os.Getenv("NO_COLOR") == "", live: true}
}

// ANSI colours.
const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

// paint wraps s in colour c when the display has colour.
func (d display) paint(c, s string) string {
	if !d.color || c == "" {
		return s
	}
	return c + s + reset
}

// lineColors colour a plan's text line by how it starts, once any indent
// is removed: the diff's added and removed lines, its hunks, and the
// actions.
var lineColors = []struct{ prefix, color string }{
	{"+++", bold}, {"---", bold}, {"@@", cyan},
	{"+", green}, {"-", red},
	{"create", green}, {"update", yellow}, {"adopt", yellow}, {"resize", yellow},
	{"prune", red}, {"replace", red}, {"conflict", red}, {"error", red},
	{"Model ", bold}, {"Plan for", bold},
}

// colorLine colours one line of a text plan.
func colorLine(line string) string {
	trimmed := strings.TrimLeft(line, " ")
	for _, lc := range lineColors {
		if strings.HasPrefix(trimmed, lc.prefix) {
			return lc.color + line + reset
		}
	}
	return line
}

// colorLines writes what it is given with every whole line coloured.
type colorLines struct {
	w   io.Writer
	buf []byte
}

func (c *colorLines) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := io.WriteString(c.w, colorLine(string(c.buf[:i]))+"\n"); err != nil {
			return 0, err
		}
		c.buf = c.buf[i+1:]
	}
}

// Flush writes a last line without its newline.
func (c *colorLines) Flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(c.w, colorLine(string(c.buf)))
	c.buf = nil
	return err
}
