package diff

import (
	"maps"
	"testing"

	"sigs.k8s.io/yaml"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.yaml), &u.Object); err != nil {
				t.Fatal(err)
			}
			if got := workloadGPUs(u); !maps.Equal(got, tc.want) {
				t.Errorf("workloadGPUs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestModelVerdict(t *testing.T) {
	for _, tc := range []struct {
		actions []Action
		want    string
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
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.yaml), &u.Object); err != nil {
				t.Fatal(err)
			}
			mem, disk := workloadSizes(u)
			if mem.String() != tc.memory || disk.String() != tc.storage {
				t.Errorf("workloadSizes = %s, %s; want %s, %s", mem.String(), disk.String(), tc.memory, tc.storage)
			}
		})
	}
}
