// Command modelsync makes a Kubernetes namespace match a models-config/ tree.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
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
		os.Exit(code)
	}
	os.Exit(Execute(os.Args[1:], os.Stdout, os.Stderr))
}
