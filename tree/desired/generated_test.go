package desired_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/internal/testing/golden"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/manifest"
)

// everyField are two Models that set what models-config's leave to the
// runbook's defaults: labels and annotations, an unlimited /dev/shm, the
// mounts' other order, pod labels and annotations, a priority class, a
// reservation, a storage class, env (with valueFrom), every override
// (tolerations included), a pool with its picker's replicas and image,
// replicas, GPU memory and compute bounds, and weight offloading.
const everyField = `apiVersion: modelsync.dev/v1alpha1
kind: Model
metadata:
  name: every-a
  labels: {team: x}
  annotations: {note: "y"}
spec:
  upstream: org/a
  route: envoy-ai-gateway-nrp
  server:
    image: vllm/vllm-openai:v0.11.2
    weightsGi: 16
    paramsB: 8
    gpus: 1
    shmSize: unlimited
    mounts: [cache, shm]
    podLabels: {extra: "1"}
    podAnnotations: {ann: "2"}
    priorityClass: high
    reservation: other
    storageClass: fast
    env:
    - name: A
      value: b
    - name: EMPTY
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    overrides:
      cpuRequest: 1500m
      cpuLimit: "2000m"
      memoryRequest: 10G
      memoryLimit: 12Gi
      storage: 100Gi
      startupFailureThreshold: 77
      tolerations:
      - key: k
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 30
---
apiVersion: modelsync.dev/v1alpha1
kind: Model
metadata:
  name: every-b
spec:
  upstream: org/b
  route: envoy-ai-gateway-nrp
  pool:
    pickerReplicas: 3
    pickerImage: my/epp:1
  server:
    image: vllm/vllm-openai:v0.11.2
    weightsGi: 16
    paramsB: 8
    gpus: 8
    shmSize: 32Gi
    replicas: 2
    computeMajorAbove: 8
    minGPUMemoryMB: 40000
    offload: {weights: uva, weightsGB: 4, disableUVA: true}
`

// TestEveryFieldGolden renders the objects of Models that set every field
// the generator passes on or derives from, beside models-config.
func TestEveryFieldGolden(t *testing.T) {
	files := kubetest.ModelsConfig(t)
	files["models-config/models/every-field.yaml"] = &fstest.MapFile{Data: []byte(everyField)}
	set := load(t, files)
	for _, d := range set.Diagnostics {
		t.Errorf("the tree is not clean: %s", d)
	}
	var objs []manifest.Object
	for _, o := range set.Objects {
		if o.Origin.File == "models-config/models/every-field.yaml" {
			objs = append(objs, o)
		}
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "golden", "models", "every-field.yaml"), marshal(t, objs))
}

// TestGeneratedContentIsJSON: the generator writes unstructured content by
// hand, and content holds only what JSON decodes to (int64, not int or
// int32; []any and map[string]any, not typed slices and maps): anything
// else makes a deep copy panic, and compares unequal to the same object
// read from the API server.
func TestGeneratedContentIsJSON(t *testing.T) {
	every := kubetest.ModelsConfig(t)
	every["models-config/models/every-field.yaml"] = &fstest.MapFile{Data: []byte(everyField)}
	for name, files := range map[string]fstest.MapFS{"models-config": kubetest.ModelsConfig(t), "every field": every, "generated": kubetest.GeneratedTree(40)} {
		for _, o := range load(t, files).Objects {
			if path, bad := notJSON(o.Object, ""); bad != "" {
				t.Errorf("%s: %s %s: %s is a %s", name, o.GetKind(), o.GetName(), path, bad)
			}
		}
	}
}

// notJSON finds a value in v that is not JSON content: its path and type.
func notJSON(v any, path string) (string, string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if p, bad := notJSON(e, path+"."+k); bad != "" {
				return p, bad
			}
		}
	case []any:
		for i, e := range t {
			if p, bad := notJSON(e, fmt.Sprintf("%s[%d]", path, i)); bad != "" {
				return p, bad
			}
		}
	case string, int64, float64, bool, nil:
	default:
		return path, fmt.Sprintf("%T", v)
	}
	return "", ""
}
