// Package buildinfo is the version and commit a modelsync binary was built
// from. Release builds stamp both (make build, make image):
//
//	-ldflags "-X modelsync.dev/modelsync/internal/buildinfo.version=v0.2.0 -X modelsync.dev/modelsync/internal/buildinfo.commit=<sha>"
//
// A binary built without the stamp (go build, go install …@v0.2.0) reports
// what the Go toolchain recorded: the module version and the VCS revision.
package buildinfo

import (
	"runtime/debug"
	gosync "sync"
)

// Set by the linker; empty in an unstamped build.
var (
	version string
	commit  string
)

var read = gosync.OnceValues(func() (string, string) {
	v, c := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		vcs := map[string]string{}
		for _, s := range info.Settings {
			vcs[s.Key] = s.Value
		}
		if v == "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		if c == "" && vcs["vcs.revision"] != "" {
			c = vcs["vcs.revision"]
			if vcs["vcs.modified"] == "true" {
				c += "-dirty"
			}
		}
	}
	return orDefault(v, "v0.0.0-devel"), orDefault(c, "unknown")
})

// Version is the release (v0.2.0), the pseudo-version Go derived from the
// work tree, or v0.0.0-devel: always a semantic version, as the ApplySet
// tooling annotation wants.
func Version() string { v, _ := read(); return v }

// Commit is the git commit the binary was built from.
func Commit() string { _, c := read(); return c }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
