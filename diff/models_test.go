package diff

import (
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"modelsync.dev/modelsync/internal/objtest"
)

func TestWorkloadGPUs(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       map[string]int64
	}{
		{"a StatefulSet: limits times replicas", `{kind: StatefulSet, spec: {replicas: 2, template: {spec: {containers: [{resources: {limits: {nvidia.com/a100: "4", cpu: "10"}, requests: {nvidia.com/a100: "4"}}}]}}}}`,
			map[string]int64{"nvidia.com/a100": 8}},
		{"a Deployment with requests only", `{kind: Deployment, spec: {template: {spec: {containers: [{resources: {requests: {nvidia.com/gpu: 1}}}]}}}}`,
			map[string]int64{"nvidia.com/gpu": 1}},
		{"a LeaderWorkerSet: the leader and size-1 workers per group", `{kind: LeaderWorkerSet, spec: {replicas: 2, leaderWorkerTemplate: {size: 3,
			leaderTemplate: {spec: {containers: [{resources: {limits: {nvidia.com/gpu: "8"}}}]}},
			workerTemplate: {spec: {containers: [{resources: {limits: {nvidia.com/gpu: "8"}}}]}}}}}`,
			map[string]int64{"nvidia.com/gpu": 48}},
		{"scaled to zero", `{kind: StatefulSet, spec: {replicas: 0, template: {spec: {containers: [{resources: {limits: {nvidia.com/gpu: "8"}}}]}}}}`,
			map[string]int64{"nvidia.com/gpu": 0}},
		{"not a workload", `{kind: Service, spec: {}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := objtest.Object(t, tc.yaml)
			if got := workloadGPUs(u); !maps.Equal(got, tc.want) {
				t.Errorf("workloadGPUs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestModelVerdict(t *testing.T) {
	for _, tc := range []struct {
		actions []Action
		want    ModelVerdict
	}{
		{[]Action{Create, Create}, "added"},
		{[]Action{Prune, Prune}, "removed"},
		{[]Action{Update, Replace}, "replaced"},
		{[]Action{Update, Create}, "changed"},
		{[]Action{Conflict}, "changed"},
	} {
		if got := modelVerdict(tc.actions); got != tc.want {
			t.Errorf("modelVerdict(%v) = %s, want %s", tc.actions, got, tc.want)
		}
	}
}

func TestWorkloadSizes(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, memory, storage string
	}{
		{"a StatefulSet of 2 with a claim template", `{kind: StatefulSet, spec: {replicas: 2, template: {spec: {containers: [{resources: {requests: {memory: 160Gi}}}]}},
			volumeClaimTemplates: [{spec: {resources: {requests: {storage: 256Gi}}}}]}}`, "320Gi", "512Gi"},
		{"a LeaderWorkerSet of groups of 3", `{kind: LeaderWorkerSet, spec: {replicas: 1, leaderWorkerTemplate: {size: 3,
			leaderTemplate: {spec: {containers: [{resources: {requests: {memory: 100Gi}}}]}},
			workerTemplate: {spec: {containers: [{resources: {requests: {memory: 50Gi}}}]}}}}}`, "200Gi", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, disk := workloadSizes(objtest.Object(t, tc.yaml))
			if mem.String() != tc.memory || disk.String() != tc.storage {
				t.Errorf("workloadSizes = %s, %s; want %s, %s", mem.String(), disk.String(), tc.memory, tc.storage)
			}
		})
	}
}

// TestWhatChanged: a changed model says what changed, read from its
// workload's pod template, live against predicted.
func TestWhatChanged(t *testing.T) {
	sts := func(edit func(c map[string]any, spec map[string]any)) *unstructured.Unstructured {
		c := map[string]any{"name": "vllm", "image": "vllm:1", "args": []any{"serve --tp 4"}, "resources": map[string]any{"limits": map[string]any{"nvidia.com/gpu": "4"}}}
		spec := map[string]any{"containers": []any{c}}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "s"},
			"spec": map[string]any{"replicas": int64(1), "template": map[string]any{"spec": spec}}}}
		if edit != nil {
			edit(c, spec)
		}
		return u
	}
	tests := []struct {
		name string
		edit func(c, spec map[string]any)
		want []string
	}{
		{"nothing", nil, nil},
		{"image", func(c, _ map[string]any) { c["image"] = "vllm:2" }, []string{"image"}},
		{"engine flags", func(c, _ map[string]any) { c["args"] = []any{"serve --tp 8"} }, []string{"engine flags"}},
		{"GPUs", func(c, _ map[string]any) {
			c["resources"] = map[string]any{"limits": map[string]any{"nvidia.com/gpu": "8"}}
		}, []string{"hardware"}},
		{"a node selector and the image", func(c, spec map[string]any) { c["image"] = "vllm:2"; spec["nodeSelector"] = map[string]any{"a": "b"} }, []string{"image", "hardware"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := whatChanged(Prediction{Change: Change{Action: Update}, Live: sts(nil), Predicted: sts(tt.edit)})
			if !slices.Equal(got, tt.want) {
				t.Errorf("whatChanged = %v, want %v", got, tt.want)
			}
		})
	}
	replicas := sts(nil)
	_ = unstructured.SetNestedField(replicas.Object, int64(3), "spec", "replicas")
	if got := whatChanged(Prediction{Change: Change{Action: Update}, Live: sts(nil), Predicted: replicas}); !slices.Equal(got, []string{"replicas"}) {
		t.Errorf("replicas: %v", got)
	}
}
