package engine

import "strings"

// Words splits a container's bash -c line into words the way bash reads
// them back after the kubelet: the kubelet first turns each $$ into $ (its
// escape for $(VAR) references), then blanks separate words, single quotes
// keep everything, double quotes keep everything but backslash escapes, and
// a backslash escapes one character. It is not a shell: it knows no
// expansions, which engine lines do not use.
func Words(line string) []string {
	line = strings.ReplaceAll(line, "$$", "$")
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			inWord = true
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`+"`", line[i+1]) >= 0 {
					i++
				}
				w.WriteByte(line[i])
			}
		case c == '\\' && i+1 < len(line):
			inWord = true
			i++
			if line[i] != '\n' {
				w.WriteByte(line[i])
			}
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			inWord = true
			w.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// Flags reads an engine's words into flag → value ("" for a switch); a
// --flag=value word counts as the flag and its value. A later flag wins, as
// in the engines' argument parsers.
func Flags(words []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "--") {
			continue
		}
		if name, value, ok := strings.Cut(w, "="); ok {
			flags[name] = value
			continue
		}
		if i+1 < len(words) && !strings.HasPrefix(words[i+1], "--") {
			flags[w] = words[i+1]
			i++
			continue
		}
		flags[w] = ""
	}
	return flags
}

// Word is one argument as bash -c reads it back: as written when it holds
// only characters the shell takes literally, else single-quoted, so that
// `args: [--compilation-config, '{"cudagraph_mode": "PIECEWISE"}']` reaches
// the engine as two arguments, not five broken words.
func Word(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@%+") == "" {
		return v
	}
	return Quote(v)
}

// Quote makes v one word of a container's bash -c line, whatever it holds:
// each $ doubled, since the kubelet expands $(VAR) in a container's args
// before bash runs and passes $$ on as $, then wrapped in single quotes,
// inside which bash takes everything literally.
func Quote(v string) string {
	v = strings.ReplaceAll(v, "$", "$$")
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
