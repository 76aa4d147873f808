// Command modelsync makes a Kubernetes namespace match a models-config/ tree.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
)

// gcPercent is the garbage collector's target for a run: modelsync is a
// short process that decodes thousands of objects at once, and with Go's
// default (100) it spends a fifth of its CPU collecting. memoryLimit keeps
// the heap bounded all the same: above it the collector runs as often as
// it must. GOGC and GOMEMLIMIT override both.
const (
	gcPercent   = 400
	memoryLimit = 1 << 30
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	// MODELSYNC_CPUPROFILE=FILE writes a CPU profile of the whole process
	// (go tool pprof reads it), as the whole-process benchmark does.
	if path := os.Getenv("MODELSYNC_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: MODELSYNC_CPUPROFILE: %v\n", err)
			os.Exit(exitError)
		}
		code := Execute(os.Args[1:], os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(exitWithPeak(code))
	}
	os.Exit(exitWithPeak(Execute(os.Args[1:], os.Stdout, os.Stderr)))
}

// exitWithPeak writes, when MODELSYNC_PEAK=FILE is set, the process's peak
// resident memory (VmHWM, as /proc/self/status has it) to FILE, for the
// whole-process benchmark, and passes code through. The kernel's rusage
// would count the benchmark's own memory, which the child shares until exec.
func exitWithPeak(code int) int {
	path := os.Getenv("MODELSYNC_PEAK")
	if path == "" {
		return code
	}
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				err = os.WriteFile(path, []byte(strings.TrimSpace(v)+"\n"), 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: MODELSYNC_PEAK: %v\n", err)
	}
	return code
}
