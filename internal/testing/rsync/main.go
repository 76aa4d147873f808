// Command rsync is the copy step gitlab-ci-local runs, so that the pipeline
// test needs no rsync on the machine. It does what gitlab-ci-local asks of
// rsync and nothing more: archive copies (-a, -r, -R), --files-from,
// --exclude and --exclude-from with rsync's pattern rules, and --delete with
// --delete-excluded. Any other option is refused, so that a new
// gitlab-ci-local that asks for more fails the test instead of copying less.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	job, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "rsync (modelsync's stand-in for gitlab-ci-local): %v\n", err)
		os.Exit(1)
	}
	if err := job.run(); err != nil {
		fmt.Fprintf(os.Stderr, "rsync (modelsync's stand-in for gitlab-ci-local): %v\n", err)
		os.Exit(23) // rsync's "partial transfer due to error"
	}
}

// job is one rsync command line.
type job struct {
	recursive, relative    bool
	delete, deleteExcluded bool
	excludes               []pattern
	filesFrom              string
	sources                []string
	dest                   string
}

func parse(args []string) (*job, error) {
	j := &job{}
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func(name string) (string, error) {
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v, nil
			}
			if i+1 == len(args) {
				return "", fmt.Errorf("%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		switch {
		case a == "--delete":
			j.delete = true
		case a == "--delete-excluded":
			j.delete, j.deleteExcluded = true, true
		case a == "--exclude" || strings.HasPrefix(a, "--exclude="):
			v, err := value("--exclude")
			if err != nil {
				return nil, err
			}
			j.excludes = append(j.excludes, newPattern(v))
		case a == "--exclude-from" || strings.HasPrefix(a, "--exclude-from="):
			v, err := value("--exclude-from")
			if err != nil {
				return nil, err
			}
			ps, err := readLines(v)
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				if p != "" && !strings.HasPrefix(p, "#") && !strings.HasPrefix(p, ";") {
					j.excludes = append(j.excludes, newPattern(p))
				}
			}
		case a == "--files-from" || strings.HasPrefix(a, "--files-from="):
			v, err := value("--files-from")
			if err != nil {
				return nil, err
			}
			j.filesFrom, j.relative = v, true
		case strings.HasPrefix(a, "--"):
			return nil, fmt.Errorf("unsupported option %s", a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, f := range a[1:] {
				switch f {
				case 'a':
					j.recursive = true
				case 'r':
					j.recursive = true
				case 'R':
					j.relative = true
				default:
					return nil, fmt.Errorf("unsupported option -%c in %s", f, a)
				}
			}
		default:
			operands = append(operands, a)
		}
	}
	if len(operands) < 2 {
		return nil, fmt.Errorf("want SOURCE... DEST, got %q", operands)
	}
	j.sources, j.dest = operands[:len(operands)-1], operands[len(operands)-1]
	return j, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, strings.TrimSuffix(s.Text(), "\r"))
	}
	return lines, s.Err()
}
