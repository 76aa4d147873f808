package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// BenchmarkProcess measures modelsync as a user runs it: whole processes
// of the built binary against the test control plane, on a generated tree
// of 1,000 Models (about 4,000 objects), beside kubectl on the same objects
// in the same run. It prints a table and writes it as JSON to
// $MODELSYNC_BENCH_OUT (default: the test's temp dir). Pairs alternate
// modelsync and kubectl so that both meet the same load; the ratio is per
// pair, and the table gives medians. MODELSYNC_BENCH_MODELS changes the size,
// MODELSYNC_BENCH_PAIRS the pairs, MODELSYNC_BENCH_RUNS the no-op diffs
// and renders per pair, and MODELSYNC_BENCH_PROFILE=DIR writes a CPU profile
// of each modelsync process there.
func BenchmarkProcess(b *testing.B) {
	models := envInt("MODELSYNC_BENCH_MODELS", 1000)
	pairs := envInt("MODELSYNC_BENCH_PAIRS", 3)
	runs := envInt("MODELSYNC_BENCH_RUNS", 5)
	bin := filepath.Join(b.TempDir(), "modelsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	tree := kubetest.WriteTree(b, kubetest.GeneratedTree(models))
	kubeconfig := kubetest.KubeconfigFile(b)
	ours := kubetest.Namespace(b)
	theirs := kubetest.Namespace(b)
	profiles := os.Getenv("MODELSYNC_BENCH_PROFILE")
	n := 0
	// peakKB is the most memory a modelsync process of the current row
	// held (its maximum resident set, as the kernel counts it).
	var peakKB int64
	peakFile := filepath.Join(b.TempDir(), "peak")
	modelsync := func(want int, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "MODELSYNC_PEAK="+peakFile)
		if profiles != "" {
			n++
			cmd.Env = append(cmd.Env, fmt.Sprintf("MODELSYNC_CPUPROFILE=%s/%s-%d.pprof", profiles, args[0], n))
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		took := time.Since(start)
		if data, err := os.ReadFile(peakFile); err == nil {
			var kb int64
			if _, err := fmt.Sscan(string(data), &kb); err == nil {
				peakKB = max(peakKB, kb)
			}
		}
		if code := cmd.ProcessState.ExitCode(); code != want {
			b.Fatalf("modelsync %s: exit %d (%v), want %d\n%.3000s", strings.Join(args, " "), code, err, want, out.String())
		}
		return took
	}
	// The objects kubectl gets: what modelsync applies, labeled as its set.
	objects := filepath.Join(b.TempDir(), "objects.yaml")
	var rendered bytes.Buffer
	render := exec.Command(bin, "render", "--show-secrets", "--path", tree, "-n", theirs)
	var stderr bytes.Buffer
	render.Stdout, render.Stderr = &rendered, &stderr
	if err := render.Run(); err != nil {
		b.Fatalf("render: %v\n%s", err, stderr.String())
	}
	if err := os.WriteFile(objects, rendered.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	kubectl := func(args ...string) time.Duration {
		b.Helper()
		start := time.Now()
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig, "-n", theirs}, args...)...).CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("kubectl %s: %v\n%.3000s", strings.Join(args, " "), err, out)
		}
		return took
	}

	var rows []benchRow
	var fl, sf floor
	row := func(name, kubectlName string, a, k []time.Duration) {
		r := benchRow{Name: name, Kubectl: kubectlName, Modelsync: median(a), PeakMB: peakKB / 1024}
		peakKB = 0
		if len(k) > 0 {
			r.KubectlSeconds = median(k)
			var ratios []float64
			for i := range a {
				ratios = append(ratios, k[i].Seconds()/a[i].Seconds())
			}
			slices.Sort(ratios)
			r.Ratio = ratios[len(ratios)/2]
		}
		rows = append(rows, r)
	}
	for b.Loop() {
		rows = nil
		first := modelsync(0, "sync", "--kubeconfig", kubeconfig, "-n", ours, "--path", tree)
		kfirst := kubectl("apply", "--server-side", "--field-manager=modelsync", "-f", objects)
		row("first sync", "kubectl apply --server-side", []time.Duration{first}, []time.Duration{kfirst})
		// How close the first sync comes to the API server's own cost of
		// its two passes, and the most a sync that dry-runs every object
		// before writing any can be faster than kubectl's one pass.
		sf = firstSyncFloor(b, objects)
		rows = append(rows, benchRow{Name: "  the server's floor", Kubectl: fmt.Sprintf("bare dry-runs, then bare applies %d at once: at most %.1fx kubectl", sf.Best, kfirst.Seconds()/sf.best()),
			KubectlSeconds: sf.best(), Ratio: sf.best() / first.Seconds()})

		// A no-op diff takes a second where kubectl's takes a minute: each
		// pair runs it runs times and counts the median, so that one slow
		// run on a busy machine does not stand for the pair.
		var a, k []time.Duration
		for range pairs {
			var ds []time.Duration
			for range runs {
				ds = append(ds, modelsync(0, "diff", "--kubeconfig", kubeconfig, "-n", ours, "--path", tree))
			}
			a = append(a, time.Duration(median(ds)*float64(time.Second)))
			k = append(k, kubectl("diff", "--server-side", "--field-manager=modelsync", "--force-conflicts", "-f", objects))
		}
		row("no-op diff", "kubectl diff --server-side", a, k)
		var full []time.Duration
		for range pairs {
			full = append(full, modelsync(0, "diff", "--full", "--kubeconfig", kubeconfig, "-n", ours, "--path", tree))
		}
		row("no-op diff --full", "kubectl diff --server-side", full, k)
		// How close --full comes to the API server's own cost of the same
		// dry-runs (ratio 1: no overhead of its own).
		fl = dryRunFloor(b, objects, theirs)
		rows = append(rows, benchRow{Name: "  the server's floor", Kubectl: fmt.Sprintf("bare dry-runs, %d at once", fl.Best),
			KubectlSeconds: fl.best(), Ratio: fl.best() / median(full)})
		var offline []time.Duration
		for range pairs * runs {
			offline = append(offline, modelsync(0, "render", "--path", tree, "-n", ours, "-o", "json"))
		}
		row("render (offline)", "", offline, nil)
	}
	printBench(b, models, rows, fl, sf)
}

type benchRow struct {
	Name           string  `json:"name"`
	Modelsync      float64 `json:"modelsyncSeconds"`
	Kubectl        string  `json:"kubectl,omitempty"`
	KubectlSeconds float64 `json:"kubectlSeconds,omitempty"`
	Ratio          float64 `json:"ratio,omitempty"`
	// PeakMB is the largest resident set of the row's modelsync processes.
	PeakMB int64 `json:"modelsyncPeakMB"`
}

func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Seconds()
}

func printBench(b *testing.B, models int, rows []benchRow, fl, sf floor) {
	load, _ := os.ReadFile("/proc/loadavg")
	var t strings.Builder
	fmt.Fprintf(&t, "whole processes, %d models, load %s", models, strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(&t, "\n%-20s %10s %9s %10s %8s  %s\n", "", "modelsync", "peak", "kubectl", "ratio", "kubectl command")
	for _, r := range rows {
		fmt.Fprintf(&t, "%-20s %9.2fs %7dMB %9.2fs %7.2fx  %s\n", r.Name, r.Modelsync, r.PeakMB, r.KubectlSeconds, r.Ratio, r.Kubectl)
	}
	fmt.Fprintln(&t, sf)
	fmt.Fprintln(&t, fl)
	fmt.Println(t.String())
	out := os.Getenv("MODELSYNC_BENCH_OUT")
	if out == "" {
		out = filepath.Join(b.TempDir(), "bench.json")
	}
	data, _ := json.MarshalIndent(map[string]any{"models": models, "load": strings.TrimSpace(string(load)), "rows": rows, "dryRunFloor": fl, "firstSyncFloor": sf}, "", "  ")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}
