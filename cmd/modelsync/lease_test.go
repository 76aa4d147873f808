package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// The test binary runs the CLI as a child process when childArgsEnv holds
// its arguments (JSON), so a test can stop it (SIGSTOP) like a frozen
// runner. With childStopAtEnv set, the child stops itself right after it
// printed that text: between two write batches, deterministically.
const (
	childArgsEnv   = "MODELSYNC_TEST_CHILD_ARGS"
	childStopAtEnv = "MODELSYNC_TEST_CHILD_STOP_AT"
)

func runChild(argsJSON string) int {
	var args []string
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return Execute(args, &stopWriter{w: os.Stdout, at: os.Getenv(childStopAtEnv)}, os.Stderr)
}

type stopWriter struct {
	w       io.Writer
	at      string
	stopped bool
}

func (s *stopWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if s.at != "" && !s.stopped && bytes.Contains(p, []byte(s.at)) {
		s.stopped = true
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		// The kernel stops a multi-threaded process soon, not at once: kill
		// returned here and the run went on into its next batch a few
		// milliseconds before it stopped, which made the stop point (and the
		// test) a race. Not returning before the stop lands keeps the run
		// where the line says it is.
		time.Sleep(500 * time.Millisecond)
	}
	return n, err
}

func twoObjectTree(value string) fstest.MapFS {
	return fstest.MapFS{
		"models-config/config.yaml":  &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\ndata:\n  tree: " + value + "\n")},
		"models-config/service.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: second\n  annotations:\n    tree: " + value + "\nspec:\n  ports:\n  - port: 80\n")},
	}
}

// A sync frozen (SIGSTOP) past its Lease, while
// another sync runs and finishes, writes nothing after it resumes: it finds
// the Lease written by another run and stops.
func TestPausedSyncThatLostItsLeaseWritesNothing(t *testing.T) {
	ns := kubetest.Namespace(t)
	kc := kubetest.KubeconfigFile(t)
	treeA, treeB := kubetest.WriteTree(t, twoObjectTree("a")), kubetest.WriteTree(t, twoObjectTree("b"))
	args, _ := json.Marshal([]string{"sync", "--kubeconfig", kc, "-n", ns, "--path", treeA, "--lease-duration", "2s"})
	var outA, errA bytes.Buffer
	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childArgsEnv+"="+string(args), childStopAtEnv+"=create     ConfigMap first")
	child.Stdout, child.Stderr = &outA, &errA
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Signal(syscall.SIGCONT); _ = child.Process.Kill() })
	waitStopped(t, child.Process.Pid)

	cs := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	waitLeaseExpired(t, cs, ns, "modelsync-lock")
	if code, out, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", treeB); code != 0 {
		t.Fatalf("the second sync: exit %d\n%s%s", code, out, stderr)
	}
	before := liveVersions(t, cs, ns)

	if err := child.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	err := child.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(errA.String(), "this run lost the lease") {
		t.Errorf("the resumed sync: %v\n%s%s", err, outA.String(), errA.String())
	}
	if after := liveVersions(t, cs, ns); after != before {
		t.Errorf("the resumed sync wrote after losing its Lease: %s → %s\n%s", before, after, outA.String())
	}
	svc, err := cs.CoreV1().Services(ns).Get(t.Context(), "second", metav1.GetOptions{})
	if err != nil || svc.Annotations["tree"] != "b" {
		t.Errorf("the Service is not as the second sync left it: %v %v", svc.Annotations, err)
	}
}

// A Lease error other than "held by another run" fails at once with its
// cause; a Lease left by a killed run is taken over at once; a live holder
// is named while the run waits.
func TestLeaseErrorsAndWaits(t *testing.T) {
	kc := kubetest.KubeconfigFile(t)
	tree := kubetest.WriteTree(t, twoObjectTree("a"))
	within := func(what string, f func() (int, string, string)) (int, string, string) {
		t.Helper()
		type result struct {
			code        int
			out, stderr string
		}
		done := make(chan result, 1)
		go func() { c, o, e := f(); done <- result{c, o, e} }()
		select {
		case r := <-done:
			return r.code, r.out, r.stderr
		case <-time.After(time.Minute):
			t.Fatalf("%s: still waiting after a minute (the lock timeout is 10m)", what)
		}
		return 0, "", ""
	}
	code, _, stderr := within("missing namespace", func() (int, string, string) {
		return run("sync", "--kubeconfig", kc, "-n", "no-such-namespace", "--path", tree, "--lock-timeout", "10m")
	})
	if code != 2 || !strings.Contains(stderr, "namespace no-such-namespace does not exist") {
		t.Errorf("missing namespace: exit %d %s", code, stderr)
	}

	ns := kubetest.Namespace(t)
	cs := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	userKC, _ := kubetest.UserKubeconfig(t, "no-leases")
	code, _, stderr = within("no Lease permission", func() (int, string, string) {
		return run("sync", "--kubeconfig", userKC, "-n", ns, "--path", tree, "--lock-timeout", "10m")
	})
	if code != 2 || !strings.Contains(stderr, "get is forbidden: the identity needs get, create and update on leases.coordination.k8s.io") {
		t.Errorf("no Lease permission: exit %d %s", code, stderr)
	}

	// A Lease left by a run killed an hour ago.
	holder, seconds := "https://gitlab.example/jobs/killed", int32(30)
	old := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "modelsync-lock"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, RenewTime: &old}}
	if _, err := cs.CoordinationV1().Leases(ns).Create(t.Context(), lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := within("stale Lease", func() (int, string, string) {
		return run("sync", "--kubeconfig", kc, "-n", ns, "--path", tree, "--lock-timeout", "10m")
	})
	if code != 0 || strings.Contains(stderr, "waiting for the Lease") {
		t.Errorf("a Lease left by a killed run: exit %d\n%s%s", code, out, stderr)
	}

	// A live holder: named, with its expiry, while the run waits.
	now := metav1.NowMicro()
	live, err := cs.CoordinationV1().Leases(ns).Get(t.Context(), "modelsync-lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder = "https://gitlab.example/jobs/live"
	live.Spec.HolderIdentity, live.Spec.RenewTime = &holder, &now
	if _, err := cs.CoordinationV1().Leases(ns).Update(t.Context(), live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run("sync", "--kubeconfig", kc, "-n", ns, "--path", tree, "--lock-timeout", "1s")
	if code != 2 || !strings.Contains(stderr, "waiting for the Lease: held by https://gitlab.example/jobs/live, until ") || !strings.Contains(stderr, "another modelsync run holds the lease") {
		t.Errorf("a live holder: exit %d %s", code, stderr)
	}
}

func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for range 600 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("the child exited before it stopped: %v", err)
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "T" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the child never stopped")
}

func waitLeaseExpired(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	for range 100 {
		l, err := cs.CoordinationV1().Leases(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Spec.RenewTime != nil && l.Spec.LeaseDurationSeconds != nil &&
			time.Since(l.Spec.RenewTime.Time) > time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the frozen run's Lease never expired")
}

// liveVersions is the resourceVersions of the two objects and the inventory.
func liveVersions(t *testing.T, cs kubernetes.Interface, ns string) string {
	t.Helper()
	cm, err1 := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "first", metav1.GetOptions{})
	svc, err2 := cs.CoreV1().Services(ns).Get(t.Context(), "second", metav1.GetOptions{})
	inv, err3 := cs.CoreV1().Secrets(ns).Get(t.Context(), "modelsync", metav1.GetOptions{})
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	return cm.ResourceVersion + "/" + svc.ResourceVersion + "/" + inv.ResourceVersion
}
