package live_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"modelsync.dev/modelsync/internal/testing/golden"
	"modelsync.dev/modelsync/report"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

var (
	routesGVR     = schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aigatewayroutes"}
	aiBackendsGVR = schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aiservicebackends"}
	backendsGVR   = schema.GroupVersionResource{Group: "gateway.envoyproxy.io", Version: "v1alpha1", Resource: "backends"}
	poolsGVR      = schema.GroupVersionResource{Group: "inference.networking.k8s.io", Version: "v1", Resource: "inferencepools"}
)

// prober samples, every 200 ms, whether a model's route rule points at a
// backend with at least one ready endpoint: rule → AIServiceBackend →
// Backend → Service (by its FQDN) → a ready, not terminating pod the
// Service selects. It counts the samples where none does.
type prober struct {
	samples, down int
	why           map[string]int
	stop          chan struct{}
	done          gosync.WaitGroup
	// approved: an approved recreate runs; its samples down are counted
	// apart (excused), as the one downtime the promise allows.
	approved atomic.Bool
	excused  int
	// untilServing keeps an approved recreate's excuse until the model
	// serves again (it approved a revision that does not start).
	untilServing atomic.Bool
}

func (e *env) probe(rule string) *prober {
	p := &prober{why: map[string]int{}, stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.samples++
			excused := p.approved.Load()
			why := e.serving(context.Background(), rule)
			switch {
			case why == "" && p.untilServing.Load():
				p.approved.Store(false) // serving again after an approved recreate
				p.untilServing.Store(false)
			case why != "" && excused:
				p.excused++
			case why != "":
				p.down++
				p.why[why]++
			}
		}
	}()
	return p
}

func (p *prober) Stop() (samples, down int) {
	close(p.stop)
	p.done.Wait()
	return p.samples, p.down
}

func (p *prober) String() string {
	s := fmt.Sprintf("%d samples, %d down %v", p.samples, p.down, p.why)
	if p.excused > 0 {
		s += fmt.Sprintf(", %d down during approved recreates", p.excused)
	}
	return s
}

// serving is "" when the rule named rule points at a backend with a ready
// endpoint, else why not.
func (e *env) serving(ctx context.Context, rule string) string {
	routes, err := e.C.Dynamic.Resource(routesGVR).Namespace(e.NS).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "routes: " + err.Error()
	}
	for _, r := range routes.Items {
		rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
		for _, x := range rules {
			m, _ := x.(map[string]any)
			if m["name"] != rule {
				continue
			}
			refs, _ := m["backendRefs"].([]any)
			for _, ref := range refs {
				name, _ := ref.(map[string]any)["name"].(string)
				ready := e.backendReady
				if ref.(map[string]any)["kind"] == "InferencePool" {
					ready = e.poolReady
				}
				if ready(ctx, name) {
					return ""
				}
			}
			return "no backend of the rule has a ready endpoint"
		}
	}
	return "no rule " + rule
}

func (e *env) backendReady(ctx context.Context, aiBackend string) bool {
	asb, err := e.C.Dynamic.Resource(aiBackendsGVR).Namespace(e.NS).Get(ctx, aiBackend, metav1.GetOptions{})
	if err != nil {
		return false
	}
	backend, _, _ := unstructured.NestedString(asb.Object, "spec", "backendRef", "name")
	b, err := e.C.Dynamic.Resource(backendsGVR).Namespace(e.NS).Get(ctx, backend, metav1.GetOptions{})
	if err != nil {
		return false
	}
	endpoints, _, _ := unstructured.NestedSlice(b.Object, "spec", "endpoints")
	for _, ep := range endpoints {
		host, _, _ := unstructured.NestedString(ep.(map[string]any), "fqdn", "hostname")
		svcName, _, _ := strings.Cut(host, ".")
		svc, err := e.C.Core.CoreV1().Services(e.NS).Get(ctx, svcName, metav1.GetOptions{})
		if err != nil || len(svc.Spec.Selector) == 0 {
			continue
		}
		if e.anyPodReady(ctx, svc.Spec.Selector) {
			return true
		}
	}
	return false
}

// poolReady: the InferencePool named pool selects a ready pod (its
// endpoint picker sends requests to the pods its selector matches).
func (e *env) poolReady(ctx context.Context, pool string) bool {
	p, err := e.C.Dynamic.Resource(poolsGVR).Namespace(e.NS).Get(ctx, pool, metav1.GetOptions{})
	if err != nil {
		return false
	}
	match, _, _ := unstructured.NestedStringMap(p.Object, "spec", "selector", "matchLabels")
	return len(match) > 0 && e.anyPodReady(ctx, match)
}

// anyPodReady: a ready pod, not terminating, matches selector.
func (e *env) anyPodReady(ctx context.Context, selector map[string]string) bool {
	pods, err := e.C.Core.CoreV1().Pods(e.NS).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return false
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
	}
	return false
}

// loadsIn3s makes a Model's pods take 3 s to become ready: long enough
// for the prober to see a restart.
func loadsIn3s(model string) string {
	return strings.Replace(model, "    gpus: 4\n", "    gpus: 4\n    podAnnotations:\n      modelsync.dev/ready-delay: 3s\n", 1)
}

// The runbook's MiniMax, the model most update tests change.
const minimaxSTS, minimaxFile, minimaxRule = "minimax-vllm-inference", "models-config/models/minimax.yaml", "minimax-m2.5"

// servingMinimax syncs the repository's tree, its MiniMax Model rewritten
// by edit first (nil: as it is), and waits until everything is ready.
func servingMinimax(t *testing.T, edit func(string) string) (*env, fstest.MapFS) {
	t.Helper()
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	if edit != nil {
		files[minimaxFile] = &fstest.MapFile{Data: []byte(edit(string(files[minimaxFile].Data)))}
	}
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatal(err)
	}
	return e, files
}

// update plans files and applies them, as a default-branch sync does.
func (e *env) update(files fstest.MapFS) (*diff.Result, error) {
	e.T.Helper()
	res, _ := e.Plan(files)
	_, err := e.m.Apply(e.T.Context(), res, "rev", sync.DefaultOptions(), sync.NoProgress{})
	return res, err
}

// planGolden checks the text plan and the merge request note of an update
// in the given mode against testdata/golden/live/update-<mode>.{txt,md}:
// what a reviewer reads before the merge.
func planGolden(t *testing.T, res *diff.Result, mode diff.UpdateMode) {
	t.Helper()
	var text, note bytes.Buffer
	if err := report.WriteText(&text, res.Plan); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteMarkdown(&note, res.Plan, report.MarkdownOptions{Marker: "modelsync-plan"}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "golden", "live", "update-"+string(mode)+".txt"), text.Bytes())
	golden.Check(t, filepath.Join("..", "..", "testdata", "golden", "live", "update-"+string(mode)+".md"), note.Bytes())
}

// modeOf is the plan's update mode for the Model named model.
func modeOf(res *diff.Result, model string) diff.UpdateMode {
	for _, m := range res.Plan.Models {
		if m.Name == model {
			return m.Update
		}
	}
	return ""
}

func surged(res *diff.Result, name string) bool {
	for _, p := range res.Predictions {
		if p.Object.GetKind() == "StatefulSet" && p.Object.GetName() == name {
			return p.Surge
		}
	}
	return false
}

func withImage(files fstest.MapFS, file, image string) {
	files[file] = &fstest.MapFile{Data: regexp.MustCompile(`vllm/vllm-openai:v[0-9.]+`).ReplaceAll(files[file].Data, []byte(image))}
}

// waitServingImage waits until pod 0 of StatefulSet sts is ready and runs
// image.
func (e *env) waitServingImage(sts, image string) { e.waitPodImage(sts+"-0", image) }

// waitPodImage waits until the pod named name is ready and runs image.
func (e *env) waitPodImage(name, image string) {
	e.T.Helper()
	err := wait.PollUntilContextTimeout(e.T.Context(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err := e.C.Core.CoreV1().Pods(e.NS).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pod.DeletionTimestamp != nil || len(pod.Spec.Containers) == 0 || pod.Spec.Containers[0].Image != image {
			return false, nil
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.T.Fatalf("pod %s does not serve %s: %v", name, image, err)
	}
}

// A one-replica model whose image changes, with room for a second copy,
// keeps serving throughout: the plan says the update surges, sync brings up
// the copy, updates the StatefulSet behind it, and removes the copy. The
// same update rolled in place (the old behaviour) takes the model down
// while its only pod restarts: the prober counts both.
func TestImageChangeWithRoomKeepsTheModelServing(t *testing.T) {
	// The model takes 3 s to load: long enough for the prober to see it.
	e, files := servingMinimax(t, loadsIn3s)
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	if why := e.serving(t.Context(), rule); why != "" {
		t.Fatalf("minimax does not serve after the first sync: %s", why)
	}

	// In place, as before: the pod is deleted first.
	withImage(files, model, "vllm/vllm-openai:v0.11.3")
	res, _ := e.Plan(files)
	for i := range res.Predictions {
		res.Predictions[i].Surge = false
	}
	p := e.probe(rule)
	if _, err := e.m.Apply(t.Context(), res, "rev", sync.DefaultOptions(), sync.NoProgress{}); err != nil {
		t.Fatal(err)
	}
	e.waitServingImage(sts, "vllm/vllm-openai:v0.11.3")
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, image change rolled in place: %s", p)
	inPlace := p.down

	// Surge.
	withImage(files, model, "vllm/vllm-openai:v0.11.4")
	p = e.probe(rule)
	res, err := e.update(files)
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, image change with room (surge): %s", p)
	if err != nil {
		t.Fatalf("the surged update: %v", err)
	}
	if !surged(res, sts) || modeOf(res, "minimax") != diff.Surge {
		t.Fatalf("the plan does not surge minimax's image change though there is room: %+v", res.Plan.Models)
	}
	planGolden(t, res, diff.Surge)
	if p.down != 0 {
		t.Errorf("minimax was down for %d of %d samples during its surged update, want 0 (in place: %d)", p.down, p.samples, inPlace)
	}
	if inPlace == 0 {
		t.Errorf("the in-place update was never down: the prober does not see a restart")
	}
	image, _, _ := unstructured.NestedSlice(e.statefulSet(sts).Object, "spec", "template", "spec", "containers")
	if !strings.Contains(fmt.Sprint(image), "v0.11.4") {
		t.Errorf("the StatefulSet does not run the new image after the surge")
	}
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), sts+"-surge", metav1.GetOptions{}); err == nil {
		t.Errorf("the surge copy is still there after the update")
	}
}

// A new revision that never becomes ready never takes the serving one down:
// the copy does not start within the Model's start deadline, so sync
// removes it, leaves the StatefulSet at its old revision, and fails naming
// the model and why; the prober counts no sample down.
func TestRevisionThatNeverStartsLeavesTheOldOneServing(t *testing.T) {
	e, files := servingMinimax(t, nil)
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	data := string(files[model].Data)
	data = strings.Replace(data, "  name: minimax\n", "  name: minimax\n  annotations:\n    "+sync.AnnotationStartDeadline+": 15s\n", 1)
	data = strings.Replace(data, "    image: vllm/vllm-openai:v0.11.2\n", "    image: vllm/vllm-openai:broken\n    podAnnotations:\n      modelsync.dev/ready-delay: 100h\n", 1)
	files[model] = &fstest.MapFile{Data: []byte(data)}
	p := e.probe(rule)
	start := time.Now()
	res, err := e.update(files)
	p.Stop()
	t.Logf("availability prober, a revision that never starts: %s; sync failed after %s: %v", p, time.Since(start).Round(time.Second), err)
	if !surged(res, sts) {
		t.Fatalf("the plan does not surge the update")
	}
	if !errors.Is(err, sync.ErrNotStarted) || !strings.Contains(err.Error(), "Model minimax") ||
		!regexp.MustCompile(`revision \S{12} still serving \(untouched\); the tree declares \S{12}`).MatchString(err.Error()) {
		t.Errorf("sync: %v, want it to fail naming the model, the revision still serving and the one the tree declares", err)
	}
	if p.down != 0 {
		t.Errorf("minimax was down for %d samples while its new revision failed to start, want 0", p.down)
	}
	containers, _, _ := unstructured.NestedSlice(e.statefulSet(sts).Object, "spec", "template", "spec", "containers")
	if strings.Contains(fmt.Sprint(containers), "broken") {
		t.Errorf("the serving StatefulSet was updated to the revision that never started")
	}

	// The model is held: the next sync does not load the same revision
	// again, and says so; status says so; --retry-failed plans it again.
	start = time.Now()
	res, err = e.update(files)
	held := ""
	for _, c := range res.Plan.Changes {
		if c.Kind == "StatefulSet" && c.Name == sts && c.Action == diff.Held {
			held = c.Message
		}
	}
	if err != nil || !strings.Contains(held, "held at its old revision") || time.Since(start) > 10*time.Second {
		t.Errorf("the sync after the failed start: %v in %s, StatefulSet change %q; want it held, not tried again", err, time.Since(start), held)
	}
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), sts+"-surge", metav1.GetOptions{}); err == nil {
		t.Errorf("the held model's sync created a surge copy again")
	}
	status, err := e.m.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range status.Members {
		if h.ID.Kind == "StatefulSet" && h.ID.Name == sts && !strings.Contains(h.Message, "held at its old revision") {
			t.Errorf("status of %s: %q, want it held", sts, h.Message)
		}
	}
	retry := diff.DefaultOptions()
	retry.RetryFailed = true
	if res, _ = e.PlanWith(files, retry); !surged(res, sts) {
		t.Errorf("with --retry-failed the update is not planned as a surge again")
	}
}

// fill takes count of a GPU resource with a pod that tolerates the model
// nodes' taints, as another team's job would: no room for a second copy.
func (e *env) fill(gpu string, count int64, tolerations []corev1.Toleration, scheduled bool) {
	e.T.Helper()
	q := *resource.NewQuantity(count, resource.DecimalSI)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "filler"},
		Spec: corev1.PodSpec{Tolerations: tolerations, Containers: []corev1.Container{{
			Name: "job", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceName(gpu): q}, Limits: corev1.ResourceList{corev1.ResourceName(gpu): q}},
		}}},
	}
	if _, err := e.C.Core.CoreV1().Pods(e.NS).Create(e.T.Context(), pod, metav1.CreateOptions{}); err != nil {
		e.T.Fatal(err)
	}
	if !scheduled {
		return
	}
	if err := wait.PollUntilContextTimeout(e.T.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := e.C.Core.CoreV1().Pods(e.NS).Get(ctx, "filler", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName != "", nil
	}); err != nil {
		e.T.Fatalf("the filler pod was not scheduled: %v", err)
	}
}

// A one-replica model whose image changes, without room for a second copy:
// the plan says DOWN and that approval is required; sync leaves the model
// serving (0 samples down until the approval); the approved prune job
// applies the update, and the model is down for about its start time, no
// more.
func TestImageChangeWithoutRoomWaitsForApproval(t *testing.T) {
	e, files := servingMinimax(t, loadsIn3s)
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	var live appsv1.StatefulSet
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(e.statefulSet(sts).Object, &live); err != nil {
		t.Fatal(err)
	}
	e.fill("nvidia.com/a100", 4, live.Spec.Template.Spec.Tolerations, true)

	withImage(files, model, "vllm/vllm-openai:v0.11.3")
	before := e.probe(rule)
	res, err := e.update(files)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	var gated *diff.Change
	for i, c := range res.Plan.Changes {
		if c.Kind == "StatefulSet" && c.Name == sts {
			gated = &res.Plan.Changes[i]
		}
	}
	if gated == nil || gated.Action != diff.Recreate {
		t.Fatalf("the update without room: %+v, want a recreate behind the approval", gated)
	}
	restart := ""
	for _, m := range res.Plan.Models {
		if m.Name == "minimax" {
			restart = strings.Join(m.Restart, "\n")
		}
	}
	if !strings.Contains(restart, "DOWN while it restarts") || !strings.Contains(restart, "approval required") || modeOf(res, "minimax") != diff.RecreateMode {
		t.Errorf("the plan's restart line: %q, want DOWN and approval required", restart)
	}
	planGolden(t, res, diff.RecreateMode)
	time.Sleep(2 * time.Second)
	before.Stop()
	t.Logf("availability prober, image change without room, before the approval: %s", before)
	if before.down != 0 {
		t.Errorf("minimax was down for %d samples before its recreate was approved", before.down)
	}
	containers, _, _ := unstructured.NestedSlice(e.statefulSet(sts).Object, "spec", "template", "spec", "containers")
	if strings.Contains(fmt.Sprint(containers), "v0.11.3") {
		t.Fatalf("sync applied the recreate without the approval")
	}

	after := e.probe(rule)
	start := time.Now()
	now, _ := e.Plan(files)
	if _, err := e.m.Prune(t.Context(), res.Plan, now, sync.DefaultPruneOptions(), sync.NoProgress{}); err != nil {
		t.Fatalf("the approved prune job: %v", err)
	}
	e.waitServingImage(sts, "vllm/vllm-openai:v0.11.3")
	time.Sleep(time.Second)
	after.Stop()
	t.Logf("availability prober, the approved recreate: %s; the prune job took %s", after, time.Since(start).Round(100*time.Millisecond))
	if after.down == 0 || after.down > 40 {
		t.Errorf("minimax was down for %d samples of 200 ms during its approved recreate, want about its 3 s start (1 to 40)", after.down)
	}
}

// A renamed Model that keeps its served name: its rule moves to the new
// backend only once the new workload serves; the old one, kept until the
// approved prune, serves until then.
func TestRenamedModelMovesItsRuleOnceTheNewWorkloadServes(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	const model, rule = "models-config/models/minimax.yaml", "minimax-m2.5"
	files[model] = &fstest.MapFile{Data: []byte(loadsIn3s(string(files[model].Data)))}
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(string(files[model].Data), "  name: minimax\n", "  name: minimax2\n", 1)
	delete(files, model)
	files["models-config/models/minimax2.yaml"] = &fstest.MapFile{Data: []byte(renamed)}
	p := e.probe(rule)
	res, err := e.update(files)
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, a renamed Model: %s", p)
	if err != nil {
		t.Fatalf("sync of the renamed Model: %v", err)
	}
	if p.down != 0 {
		t.Errorf("the served name was down for %d samples while its rule moved to the renamed Model", p.down)
	}
	if why := e.serving(t.Context(), rule); why != "" {
		t.Errorf("after the sync: %s", why)
	}
	if len(res.Plan.Removals()) == 0 {
		t.Errorf("the old Model's objects are not pending removal")
	}
}

// A two-replica model whose image changes without room for a copy rolls
// one pod at a time: the plan says so, and the model never has no ready
// replica.
func TestImageChangeOfTwoReplicasWithoutRoomRolls(t *testing.T) {
	// Two replicas of 4 A100s fill the cluster's only 8-A100 node.
	e, files := servingMinimax(t, func(s string) string {
		return strings.Replace(s, "    gpus: 4\n", "    gpus: 4\n    replicas: 2\n    podAnnotations:\n      modelsync.dev/ready-delay: 3s\n", 1)
	})
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	withImage(files, model, "vllm/vllm-openai:v0.11.3")
	p := e.probe(rule)
	res, err := e.update(files)
	if err != nil {
		t.Fatal(err)
	}
	if mode := modeOf(res, "minimax"); mode != diff.Roll {
		t.Errorf("the plan's mode for two replicas without room: %q, want roll", mode)
	}
	planGolden(t, res, diff.Roll)
	for _, pod := range []string{sts + "-0", sts + "-1"} {
		e.waitPodImage(pod, "vllm/vllm-openai:v0.11.3")
	}
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, two replicas rolled: %s", p)
	if p.down != 0 {
		t.Errorf("the model had no ready replica for %d samples while it rolled", p.down)
	}
}

// A new revision that crash-loops (killed for memory at load, as the
// simulated kubelet reports it) ends the surge at once, long before its
// start deadline: the copy is removed, the old revision serves throughout,
// and sync names the model and the kubelet's reason.
func TestCrashLoopingRevisionEndsTheSurgeAtOnce(t *testing.T) {
	e, files := servingMinimax(t, nil)
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	data := strings.Replace(string(files[model].Data), "    image: vllm/vllm-openai:v0.11.2\n", "    image: vllm/vllm-openai:v0.11.3\n    startDeadline: 30m\n    podAnnotations:\n      "+controlplane.FailAnnotation+": OOMKilled\n", 1)
	files[model] = &fstest.MapFile{Data: []byte(data)}
	p := e.probe(rule)
	start := time.Now()
	_, err := e.update(files)
	took := time.Since(start)
	p.Stop()
	t.Logf("availability prober, a revision killed for memory at load: %s; sync failed after %s: %v", p, took.Round(100*time.Millisecond), err)
	if !errors.Is(err, sync.ErrNotStarted) || !errors.Is(err, sync.ErrFailing) || !strings.Contains(err.Error(), "OOMKilled") {
		t.Errorf("sync: %v, want the failed start with the kubelet's reason", err)
	}
	if took > 2*time.Minute {
		t.Errorf("the surge waited %s for a crash-looping revision", took)
	}
	if p.down != 0 {
		t.Errorf("minimax was down for %d samples while its new revision crash-looped", p.down)
	}
}

// A revert while a surge is starting: the sync bringing up the new revision
// is cut off (its job cancelled) while the copy loads; the revert's sync
// removes the copy, leaves the serving StatefulSet alone, and the model
// never goes down.
func TestRevertWhileASurgeIsStarting(t *testing.T) {
	e, files := servingMinimax(t, nil)
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	reverted := fstest.MapFS{}
	for k, v := range files {
		reverted[k] = &fstest.MapFile{Data: v.Data}
	}
	files[model] = &fstest.MapFile{Data: []byte(strings.Replace(string(files[model].Data), "    image: vllm/vllm-openai:v0.11.2\n", "    image: vllm/vllm-openai:v0.11.3\n    podAnnotations:\n      modelsync.dev/ready-delay: 10m\n", 1))}
	p := e.probe(rule)
	res, _ := e.Plan(files)
	if !surged(res, sts) {
		t.Fatal("the update does not surge")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Apply(ctx, res, "rev", sync.DefaultOptions(), sync.NoProgress{})
		done <- err
	}()
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := e.C.Core.CoreV1().Pods(e.NS).Get(ctx, sts+"-surge-0", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("the surge copy's pod was never created")
	}
	cancel() // the sync job is cancelled while the copy loads
	t.Logf("the cut-off sync: %v", <-done)

	res, err := e.update(reverted)
	time.Sleep(time.Second)
	p.Stop()
	rep := ""
	if err == nil {
		rep = strings.Join(res.Plan.Warnings, "\n")
	}
	t.Logf("availability prober, a revert while a surge starts: %s", p)
	if err != nil {
		t.Fatalf("the revert's sync: %v", err)
	}
	if !strings.Contains(rep, "surge copy of "+sts) {
		t.Errorf("the revert's plan does not say what becomes of the copy: %s", rep)
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(ctx, sts+"-surge", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Errorf("the surge copy is still there after the revert's sync")
	}
	containers, _, _ := unstructured.NestedSlice(e.statefulSet(sts).Object, "spec", "template", "spec", "containers")
	if strings.Contains(fmt.Sprint(containers), "v0.11.3") {
		t.Errorf("the serving StatefulSet was updated to the reverted revision")
	}
	if p.down != 0 {
		t.Errorf("minimax was down for %d samples during the cut-off surge and its revert", p.down)
	}
}

// A surge whose sync job ends before the new revision has loaded is not
// lost or repeated: the next sync at the same revision finds the copy
// still loading (the same pod), waits for it, and finishes the update; the
// model never goes down.
func TestCutOffSurgeContinues(t *testing.T) {
	e, files := servingMinimax(t, nil)
	const sts, model, rule = minimaxSTS, minimaxFile, minimaxRule
	files[model] = &fstest.MapFile{Data: []byte(strings.Replace(string(files[model].Data), "    image: vllm/vllm-openai:v0.11.2\n", "    image: vllm/vllm-openai:v0.11.3\n    podAnnotations:\n      modelsync.dev/ready-delay: 8s\n", 1))}
	p := e.probe(rule)
	res, _ := e.Plan(files)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second) // the job's timeout
	_, err := e.m.Apply(ctx, res, "rev", sync.DefaultOptions(), sync.NoProgress{})
	cancel()
	t.Logf("the cut-off sync: %v", err)
	if _, err := e.C.Core.CoreV1().Pods(e.NS).Get(t.Context(), sts+"-surge-0", metav1.GetOptions{}); err != nil {
		t.Fatalf("the copy's pod after the cut-off: %v (it should keep loading)", err)
	}
	if _, err := e.update(files); err != nil {
		t.Fatalf("the next sync: %v", err)
	}
	e.waitServingImage(sts, "vllm/vllm-openai:v0.11.3")
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, a surge cut off and continued: %s", p)
	if p.down != 0 {
		t.Errorf("minimax was down for %d samples", p.down)
	}
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), sts+"-surge", metav1.GetOptions{}); err == nil {
		t.Errorf("the surge copy is still there after the update finished")
	}
}
