package workload

import (
	"maps"
	"testing"

	"modelsync.dev/modelsync/internal/testing/objtest"
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
		{"a LeaderWorkerSet without a leaderTemplate: the leader runs the workers' template", `{kind: LeaderWorkerSet, spec: {replicas: 1, leaderWorkerTemplate: {size: 3,
			workerTemplate: {spec: {containers: [{resources: {limits: {nvidia.com/gpu: "4"}}}]}}}}}`,
			map[string]int64{"nvidia.com/gpu": 12}},
		{"scaled to zero", `{kind: StatefulSet, spec: {replicas: 0, template: {spec: {containers: [{resources: {limits: {nvidia.com/gpu: "8"}}}]}}}}`,
			map[string]int64{"nvidia.com/gpu": 0}},
		{"not a workload", `{kind: Service, spec: {}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := objtest.Object(t, tc.yaml)
			if got := GPUs(u); !maps.Equal(got, tc.want) {
				t.Errorf("GPUs = %v, want %v", got, tc.want)
			}
		})
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
		{"a LeaderWorkerSet's claims: every pod of every group", `{kind: LeaderWorkerSet, spec: {replicas: 2, leaderWorkerTemplate: {size: 3,
			workerTemplate: {spec: {containers: [{resources: {requests: {memory: 50Gi}}}]}},
			volumeClaimTemplates: [{spec: {resources: {requests: {storage: 100Gi}}}}]}}}`, "300Gi", "600Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, disk := Sizes(objtest.Object(t, tc.yaml))
			if mem.String() != tc.memory || disk.String() != tc.storage {
				t.Errorf("Sizes = %s, %s; want %s, %s", mem.String(), disk.String(), tc.memory, tc.storage)
			}
		})
	}
}
