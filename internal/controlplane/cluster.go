package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

// Provisioner is the storage class provisioner the harness serves: claims of
// a class with it get a PersistentVolume at once.
const Provisioner = "modelsync.dev/local"

// KwokStages is the file in the assets directory holding kwok's stages (node
// initialize and heartbeat, pod ready, complete and delete), copied from the
// kwok module by `make controlplane`.
const KwokStages = "kwok-stages.yaml"

// cluster is what makes the control plane behave like a real cluster: the
// controller-manager and scheduler, kwok simulating the nodes' kubelets, the
// claim provisioner, and a stand-in for the LeaderWorkerSet controller.
type cluster struct {
	procs  []*exec.Cmd
	cancel context.CancelFunc
	done   chan struct{}
	dir    string
}

// startCluster starts the controllers and kwok against the running API
// server, creates the objects of the cluster file (nodes, storage and
// priority classes), and serves the claims of its storage classes.
func (c *ControlPlane) startCluster(ctx context.Context, opts Options) error {
	dir, err := os.MkdirTemp("", "modelsync-cluster-")
	if err != nil {
		return err
	}
	c.cluster = &cluster{dir: dir, done: make(chan struct{})}
	kc, err := c.Kubeconfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	certs := c.env.ControlPlane.APIServer.CertDir
	bin := func(name string) string { return filepath.Join(opts.AssetsDir, name) }
	scheduler, err := schedulerConfig(opts.Cluster, kubeconfig, dir)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{"--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0",
			"--service-account-private-key-file=" + filepath.Join(certs, "sa-signer.key"), "--use-service-account-credentials=false",
			"--controllers=*,-nodeipam,-kube-apiserver-serving-clustertrustbundle-publisher-controller",
			"--node-monitor-grace-period=60s"}},
		{"kube-scheduler", []string{"--config=" + scheduler, "--secure-port=0"}},
	} {
		if err := c.cluster.start(bin(p.name), p.args); err != nil {
			return err
		}
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	classes, err := c.applyClusterFile(ctx, opts.Cluster)
	if err != nil {
		return err
	}
	stages, err := kwokStages(bin(KwokStages), opts.ReadyDelay, dir)
	if err != nil {
		return err
	}
	// kwok after the nodes exist with their capacity: it initializes them.
	if err := c.cluster.start(bin("kwok"), []string{"--kubeconfig=" + kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--config=" + stages}); err != nil {
		return err
	}
	if err := nodesReady(ctx, cs); err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cluster.cancel = cancel
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		cancel()
		return err
	}
	go func() {
		defer close(c.cluster.done)
		go runLeaderWorkerSets(pctx, dyn, cs)
		provision(pctx, cs, classes)
	}()
	return nil
}

func (cl *cluster) start(path string, args []string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s missing: run `make controlplane`: %w", path, err)
	}
	log, err := os.Create(filepath.Join(cl.dir, filepath.Base(path)+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	cl.procs = append(cl.procs, cmd)
	return nil
}

// stop ends the provisioner and the processes, newest first.
func (cl *cluster) stop() error {
	if cl == nil {
		return nil
	}
	if cl.cancel != nil {
		cl.cancel()
		<-cl.done
	}
	var errs []error
	for i := len(cl.procs) - 1; i >= 0; i-- {
		p := cl.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { exited <- p.Wait() }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			errs = append(errs, p.Process.Kill())
			<-exited
		}
	}
	errs = append(errs, os.RemoveAll(cl.dir))
	return errors.Join(errs...)
}

// applyClusterFile creates the objects of the cluster file, each with its
// status where it has one (a Node's capacity), and returns the storage
// classes the harness provisions.
func (c *ControlPlane) applyClusterFile(ctx context.Context, path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	classes := map[string]bool{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", path, u.GetKind(), u.GetName(), err)
		}
		res := dyn.Resource(m.Resource)
		if _, err := res.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("%s: create %s %s: %w", path, u.GetKind(), u.GetName(), err)
		}
		if status, ok := u.Object["status"]; ok && m.Scope.Name() == meta.RESTScopeNameRoot {
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				live, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
				if err != nil {
					return err
				}
				live.Object["status"] = status
				_, err = res.UpdateStatus(ctx, live, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("%s: status of %s %s: %w", path, u.GetKind(), u.GetName(), err)
			}
		}
		if u.GetKind() == "StorageClass" {
			var sc storagev1.StorageClass
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &sc); err == nil && sc.Provisioner == Provisioner {
				classes[sc.Name] = true
			}
		}
	}
	return classes, nil
}

// SchedulerFile, beside the cluster file, is the simulated cluster's
// KubeSchedulerConfiguration (how it places GPU pods); without it the
// scheduler runs its default profile.
const SchedulerFile = "scheduler.yaml"

// schedulerConfig writes the scheduler's configuration: the cluster's own
// profiles, with this control plane's kubeconfig and no leader election.
func schedulerConfig(clusterFile, kubeconfig, dir string) (string, error) {
	cfg := map[string]any{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}
	path := filepath.Join(filepath.Dir(clusterFile), SchedulerFile)
	if data, err := os.ReadFile(path); err == nil {
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "kube-scheduler.yaml")
	return out, os.WriteFile(out, data, 0o644)
}

// nodesReady waits until kwok has made every simulated node Ready and the
// controller-manager has lifted its not-ready taints, so that the first
// workload schedules as on a running cluster.
func nodesReady(ctx context.Context, cs kubernetes.Interface) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, n := range nodes.Items {
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			for _, t := range n.Spec.Taints {
				ready = ready && !strings.HasPrefix(t.Key, "node.kubernetes.io/")
			}
			if !ready {
				last = n.Name
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node %s never became ready (kwok and controller-manager logs in the cluster's temporary directory): %w", last, err)
	}
	return nil
}

// provision gives every pending claim of classes a PersistentVolume bound
// to it, as a storage driver would; the controller-manager binds them.
func provision(ctx context.Context, cs kubernetes.Interface, classes map[string]bool) {
	wait.UntilWithContext(ctx, func(ctx context.Context) { provisionPending(ctx, cs, classes) }, 300*time.Millisecond)
}

func provisionPending(ctx context.Context, cs kubernetes.Interface, classes map[string]bool) {
	claims, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return // the next round tries again
	}
	for _, pvc := range claims.Items {
		if pvc.Spec.VolumeName != "" || pvc.Spec.StorageClassName == nil || !classes[*pvc.Spec.StorageClassName] || pvc.DeletionTimestamp != nil {
			continue
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv-" + string(pvc.UID), Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": Provisioner}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   pvc.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              *pvc.Spec.StorageClassName,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/modelsync-test/" + string(pvc.UID)}},
			},
		}
		_, _ = cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	}
}
