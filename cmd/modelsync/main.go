// Command modelsync makes a Kubernetes namespace match a models-config/ tree.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
)

// The garbage collector: a plan is a burst that decodes, generates and
// compares thousands of objects in well under a second, and collecting
// during it costs a fifth of its CPU while freeing little. So the
// collector is off until the plan is made (collect), and runs after it
// at gcPercent, for what a sync does then, waiting minutes for health,
// is long. memoryLimit bounds the heap throughout: above it the collector
// runs as often as it must. GOGC and GOMEMLIMIT override both.
const (
	gcPercent   = 400
	memoryLimit = 512 << 20
)

// collect turns the collector on after a plan, unless GOGC says otherwise.
func collect() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
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
