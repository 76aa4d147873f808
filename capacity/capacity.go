// Package capacity answers, at plan time, whether a workload's pods can be
// placed on the cluster as it is now: free allocatable per node (allocatable
// minus the requests of the pods running there, less what the plan itself
// replaces or removes), node affinity and taints with the scheduler's own
// predicates (k8s.io/component-helpers), and resources, GPUs first. It packs
// GPUs as the cluster's scheduler profile does (the fullest node that fits).
// The answer is a warning, not an error: capacity moves.
package capacity

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/workload"
)

// Cluster is the nodes and what the running pods request of them.
type Cluster struct {
	nodes []*node
	pods  []corev1.Pod
}

type node struct {
	n    *corev1.Node
	free corev1.ResourceList
}

// Read lists the nodes and the pods of every namespace (cluster-wide list
// on nodes and pods, which a plan identity may lack: the caller warns), and
// keeps of them what a snapshot keeps.
func Read(ctx context.Context, r cluster.Reader) (*Cluster, error) {
	s, err := Take(ctx, r, time.Time{})
	if err != nil {
		return nil, err
	}
	return s.Cluster(), nil
}

// New is the cluster of these nodes with these pods running: every pod bound
// to a node and not finished holds its requests there.
func New(nodes []corev1.Node, pods []corev1.Pod) *Cluster {
	c := &Cluster{}
	byName := map[string]*node{}
	for i := range nodes {
		n := &node{n: &nodes[i], free: nodes[i].Status.Allocatable.DeepCopy()}
		c.nodes = append(c.nodes, n)
		byName[n.n.Name] = n
	}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		c.pods = append(c.pods, p)
		if n := byName[p.Spec.NodeName]; n != nil {
			take(n.free, requests(&p.Spec))
		}
	}
	sort.Slice(c.nodes, func(i, j int) bool { return c.nodes[i].n.Name < c.nodes[j].n.Name })
	return c
}

// Copy is c with its own free resources, to place on without changing c:
// what would fit beside everything running now.
func (c *Cluster) Copy() *Cluster {
	out := &Cluster{pods: slices.Clone(c.pods), nodes: make([]*node, len(c.nodes))}
	for i, n := range c.nodes {
		out.nodes[i] = &node{n: n.n, free: n.free.DeepCopy()}
	}
	return out
}

// Nodes is how many nodes the cluster has.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Release gives back what the pods of namespace matching selector hold: the
// pods of a workload the plan replaces, changes or removes.
func (c *Cluster) Release(namespace string, selector map[string]string) {
	if len(selector) == 0 {
		return
	}
	sel := labels.SelectorFromSet(selector)
	c.pods = slices.DeleteFunc(c.pods, func(p corev1.Pod) bool {
		if p.Namespace != namespace || !sel.Matches(labels.Set(p.Labels)) {
			return false
		}
		for _, n := range c.nodes {
			if n.n.Name == p.Spec.NodeName {
				give(n.free, requests(&p.Spec))
			}
		}
		return true
	})
}

// Verdict is where a workload's pods would go now.
type Verdict struct {
	Pods, Placed int
	Nodes        []string
	// Why is the scheduler-like reason for the first pod that found no
	// node: "8 Insufficient nvidia.com/gpu, 3 untolerated taint …".
	Why string
}

func (v Verdict) String() string {
	if v.Placed == v.Pods {
		return "fits now (on " + strings.Join(slices.Compact(slices.Sorted(slices.Values(v.Nodes))), ", ") + ")"
	}
	return fmt.Sprintf("cannot be placed now: %d of %d pods: %s", v.Pods-v.Placed, v.Pods, v.Why)
}

// Place places a workload's pods (a StatefulSet's or Deployment's replicas;
// a LeaderWorkerSet's leader and workers per group), taking what they
// request, and says where they went.
func (c *Cluster) Place(u *unstructured.Unstructured) (Verdict, bool) {
	tmpls, err := templates(u)
	if err != nil || len(tmpls) == 0 {
		return Verdict{}, false
	}
	var v Verdict
	for _, t := range tmpls {
		pod := &corev1.Pod{Spec: t.spec}
		for range t.count {
			v.Pods++
			n, why := c.pick(pod)
			if n == nil {
				if v.Why == "" {
					v.Why = why
				}
				continue
			}
			take(n.free, requests(&pod.Spec))
			v.Placed++
			v.Nodes = append(v.Nodes, n.n.Name)
		}
	}
	return v, true
}

// pick is the node a pod goes to: affinity and taints as the scheduler
// checks them, enough of every resource, and of those the one with the
// fewest GPUs left (bin packing). Else why not, counted per reason.
func (c *Cluster) pick(pod *corev1.Pod) (*node, string) {
	need := requests(&pod.Spec)
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	reasons := map[string]int{}
	var best *node
	for _, n := range c.nodes {
		if ok, _ := affinity.Match(n.n); !ok {
			reasons["didn't match Pod's node affinity/selector"]++
			continue
		}
		if taint, ok := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.n.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false); ok {
			reasons[fmt.Sprintf("had untolerated taint {%s: %s}", taint.Key, taint.Value)]++
			continue
		}
		if short := insufficient(n.free, need); short != "" {
			reasons["Insufficient "+short]++
			continue
		}
		if best == nil || gpus(n.free) < gpus(best.free) {
			best = n
		}
	}
	if best != nil {
		return best, ""
	}
	var parts []string
	for r, k := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", k, r))
	}
	sort.Strings(parts)
	return nil, fmt.Sprintf("0/%d nodes are available: %s", len(c.nodes), strings.Join(parts, ", "))
}

// template is one pod template of a workload and how many pods of it run.
type template struct {
	spec  corev1.PodSpec
	count int64
}

// templates are a workload's pod templates: a StatefulSet's or
// Deployment's replicas, a LeaderWorkerSet's leader and size-1 workers per
// group.
func templates(u *unstructured.Unstructured) ([]template, error) {
	var out []template
	for _, t := range workload.Templates(u) {
		m, found, _ := unstructured.NestedMap(u.Object, t.SpecPath()...)
		if !found {
			continue
		}
		var s corev1.PodSpec
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &s); err != nil {
			return nil, err
		}
		out = append(out, template{spec: s, count: t.Pods})
	}
	return out, nil
}

// requests is what a pod asks of a node: its containers' requests (limits
// where a request is missing, as the API server defaults them).
func requests(s *corev1.PodSpec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range s.Containers {
		for name, q := range c.Resources.Limits {
			if _, ok := c.Resources.Requests[name]; !ok {
				add(out, name, q)
			}
		}
		for name, q := range c.Resources.Requests {
			add(out, name, q)
		}
	}
	return out
}

func add(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	cur := l[name]
	cur.Add(q)
	l[name] = cur
}

func take(free, req corev1.ResourceList) {
	for name, q := range req {
		cur := free[name]
		cur.Sub(q)
		free[name] = cur
	}
}

func give(free, req corev1.ResourceList) {
	for name, q := range req {
		add(free, name, q)
	}
}

// insufficient names the first resource (in name order) the node has too
// little of.
func insufficient(free, need corev1.ResourceList) string {
	for _, name := range slices.Sorted(func(yield func(corev1.ResourceName) bool) {
		for n := range need {
			if !yield(n) {
				return
			}
		}
	}) {
		if q := need[name]; !q.IsZero() {
			have, ok := free[name]
			if !ok || have.Cmp(q) < 0 {
				return string(name)
			}
		}
	}
	return ""
}

// gpus is how many GPUs a node has left, of every GPU resource.
func gpus(free corev1.ResourceList) int64 {
	var n int64
	for name, q := range free {
		if strings.HasPrefix(string(name), "nvidia.com/") || strings.HasSuffix(string(name), "/gpu") {
			n += q.Value()
		}
	}
	return n
}

// Free is how much of resource the cluster's schedulable nodes have left
// (allocatable less what running pods request), as read; on the nodes of
// the named GPU products (nvidia.com/gpu.product) when there are any.
func (c *Cluster) Free(resource string, products []string) int64 {
	var n int64
	for _, nd := range c.nodes {
		if nd.n.Spec.Unschedulable || len(products) > 0 && !slices.Contains(products, nd.n.Labels[model.NodeGPUProduct]) {
			continue
		}
		q := nd.free[corev1.ResourceName(resource)]
		n += q.Value()
	}
	return n
}
