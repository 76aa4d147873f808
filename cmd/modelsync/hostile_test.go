package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A merge request's kustomization that names an internal URL is refused by
// every command that reads the tree, without a request; allowed on purpose,
// a URL that never answers does not keep the job past SIGTERM, as GitLab
// cancels jobs.
func TestRemoteBaseRefusedAndSIGTERMStopsTheJob(t *testing.T) {
	var hits atomic.Int64
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case asked <- struct{}{}:
		default:
		}
		select { // never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	dir := filepath.Join(t.TempDir(), "models-config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n- "+srv.URL+"/internal/config.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"validate", "render"} {
		start := time.Now()
		code, out, stderr := run(cmd, "--path", dir, "-n", "nrp-llm")
		if code == 0 || !strings.Contains(out+stderr, "--allow-remote-bases") || time.Since(start) > 5*time.Second {
			t.Errorf("%s of a tree naming a URL: exit %d after %s\n%s%s", cmd, code, time.Since(start), out, stderr)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the URL was asked %d times", n)
	}

	args, _ := json.Marshal([]string{"validate", "--path", dir, "-n", "nrp-llm", "--allow-remote-bases"})
	var stderr bytes.Buffer
	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childArgsEnv+"="+string(args))
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill() })
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("validate --allow-remote-bases never fetched the URL")
	}
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Errorf("validate exited 0 after SIGTERM")
		}
	case <-time.After(gracePeriod + 5*time.Second):
		t.Fatalf("validate still runs %s after SIGTERM\n%s", gracePeriod+5*time.Second, stderr.String())
	}
}
