// Package parallel runs the independent steps of a CPU-bound loop on every
// core: decoding a tree's files, its Models, converting generated objects.
package parallel

import (
	"runtime"
	"sync"
)

// For calls f(i) for every i in [0, n), on as many goroutines as there are
// cores, and returns when all calls have. f must be safe to call
// concurrently for distinct i.
func For(n int, f func(i int)) {
	workers := min(runtime.NumCPU(), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				f(i)
			}
		})
	}
	wg.Wait()
}
