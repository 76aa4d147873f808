package workload

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/model"
)

// What a workload requests of GPUs, memory and storage, as the plan's
// models table and the capacity check count it.

// GPUKey names a GPU resource as a reviewer counts it: the resource, and
// the products its pods are restricted to (nvidia.com/gpu.product), so that
// H100s and H200s behind one nvidia.com/gpu are told apart.
func GPUKey(resource string, products []string) string {
	if len(products) == 0 {
		return resource
	}
	return resource + " (" + strings.Join(products, "|") + ")"
}

// SplitGPUKey is GPUKey's inverse.
func SplitGPUKey(key string) (string, []string) {
	resource, rest, ok := strings.Cut(key, " (")
	if !ok {
		return key, nil
	}
	return resource, strings.Split(strings.TrimSuffix(rest, ")"), "|")
}

// gpuProducts are the GPU products a pod spec's required node affinity
// admits (nvidia.com/gpu.product In …), sorted; none means any.
func gpuProducts(obj map[string]any, spec []string) []string {
	terms := sliceAt(obj, append(slices.Clone(spec), "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")...)
	var out []string
	for _, t := range terms {
		tm, _ := t.(map[string]any)
		exprs := sliceAt(tm, "matchExpressions")
		for _, e := range exprs {
			em, _ := e.(map[string]any)
			if em["key"] != model.NodeGPUProduct || em["operator"] != "In" {
				continue
			}
			values, _, _ := unstructured.NestedStringSlice(em, "values")
			out = append(out, values...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// GPUs is what a workload requests of GPU resources (nvidia.com/…,
// */gpu) in all its pods: per pod times replicas, times the group size of a
// LeaderWorkerSet. Not a workload: nil.
func GPUs(u *unstructured.Unstructured) map[string]int64 {
	templates := Templates(u)
	if len(templates) == 0 {
		return nil
	}
	out := map[string]int64{}
	for _, t := range templates {
		path := t.SpecPath()
		products := gpuProducts(u.Object, path)
		containers := sliceAt(u.Object, append(slices.Clone(path), "containers")...)
		for _, c := range containers {
			cm, _ := c.(map[string]any)
			for _, field := range []string{"limits", "requests"} {
				res, _ := fieldAt(cm, "resources", field).(map[string]any)
				for name, v := range res {
					if !isGPU(name) {
						continue
					}
					count, _ := CountOf(v)
					if field == "requests" {
						if _, inLimits, _ := unstructured.NestedFieldNoCopy(cm, "resources", "limits", name); inLimits {
							continue // counted from limits
						}
					}
					out[GPUKey(name, products)] += count * t.Pods
				}
			}
		}
	}
	return out
}

// Sizes is the memory a workload's pods request and the storage its
// claim templates ask for, in all replicas (and, for a LeaderWorkerSet, its
// workers); zero for what is not a StatefulSet, Deployment or
// LeaderWorkerSet.
func Sizes(u *unstructured.Unstructured) (memory, storage resource.Quantity) {
	templates := Templates(u)
	if len(templates) == 0 {
		return memory, storage
	}
	replicas := Count(u.Object, 1, "spec", "replicas")
	var mem, disk int64
	for _, t := range templates {
		containers := sliceAt(u.Object, append(t.SpecPath(), "containers")...)
		for _, c := range containers {
			cm, _ := c.(map[string]any)
			if v, ok, _ := unstructured.NestedString(cm, "resources", "requests", "memory"); ok {
				if q, err := resource.ParseQuantity(v); err == nil {
					mem += q.Value() * t.Pods
				}
			}
		}
	}
	// A StatefulSet's pods each get its claim templates; a LeaderWorkerSet's
	// too, in every group (the leader and its workers).
	claims, pods := sliceAt(u.Object, "spec", "volumeClaimTemplates"), replicas
	if u.GetKind() == LeaderWorkerSet.Kind {
		claims = sliceAt(u.Object, "spec", "leaderWorkerTemplate", "volumeClaimTemplates")
		pods = replicas * Count(u.Object, 1, "spec", "leaderWorkerTemplate", "size")
	}
	for _, c := range claims {
		cm, _ := c.(map[string]any)
		if v, ok, _ := unstructured.NestedString(cm, "spec", "resources", "requests", "storage"); ok {
			if q, err := resource.ParseQuantity(v); err == nil {
				disk += q.Value() * pods
			}
		}
	}
	return *resource.NewQuantity(mem, resource.BinarySI), *resource.NewQuantity(disk, resource.BinarySI)
}

// GPUCounts writes GPUs as "4 nvidia.com/a100", "-" for none.
func GPUCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func isGPU(resource string) bool {
	return strings.HasPrefix(resource, "nvidia.com/") || strings.HasSuffix(resource, "/gpu")
}

// fieldAt and sliceAt read a field without copying it, as the sums only
// read (unstructured's NestedSlice and NestedMap copy what they return).
func fieldAt(obj map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	return v
}

func sliceAt(obj map[string]any, path ...string) []any {
	s, _ := fieldAt(obj, path...).([]any)
	return s
}
