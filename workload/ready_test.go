package workload

import (
	"testing"

	"modelsync.dev/modelsync/internal/testing/objtest"
)

func TestReady(t *testing.T) {
	tests := []struct {
		name, object string
		ready        bool
		message      string
	}{
		{"statefulset not observed", "kind: StatefulSet\nmetadata: {generation: 2}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1}", false, "waiting for the controller to observe generation 2"},
		{"statefulset rolling", "kind: StatefulSet\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1, currentRevision: a, updateRevision: b}", false, "rolling update: 1 pods at revision b"},
		{"statefulset partitioned done", "kind: StatefulSet\nmetadata: {generation: 1}\nspec: {replicas: 4, updateStrategy: {rollingUpdate: {partition: 2}}}\nstatus: {observedGeneration: 1, readyReplicas: 4, updatedReplicas: 2, currentRevision: a, updateRevision: b}", true, "4 of 4 pods ready"},
		{"deployment unavailable", "kind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, updatedReplicas: 2, availableReplicas: 1}", false, "1 of 2 replicas available"},
		{"route accepted", "kind: AIGatewayRoute\nmetadata: {generation: 3}\nstatus: {conditions: [{type: Accepted, status: 'True', observedGeneration: 3}]}", true, "accepted"},
		{"route not accepted", "kind: AIGatewayRoute\nmetadata: {generation: 3}\nstatus: {conditions: [{type: Accepted, status: 'False', reason: Invalid, message: no such backend}]}", false, "not accepted: Invalid: no such backend"},
		{"route stale condition", "kind: AIGatewayRoute\nmetadata: {generation: 3}\nstatus: {conditions: [{type: Accepted, status: 'True', observedGeneration: 2}]}", false, "Accepted: waiting for the controller to observe generation 3"},
		{"policy ancestor not accepted", "kind: BackendTrafficPolicy\nmetadata: {generation: 1}\nstatus: {ancestors: [{conditions: [{type: Accepted, status: 'False', reason: TargetNotFound}]}]}", false, "not accepted: TargetNotFound"},
		{"leaderworkerset without a controller", "kind: LeaderWorkerSet\nmetadata: {generation: 1}\nspec: {replicas: 1}", false, "no status yet: is the LeaderWorkerSet controller installed?"},
		{"leaderworkerset group not ready", "kind: LeaderWorkerSet\nspec: {replicas: 2}\nstatus: {readyReplicas: 1, conditions: [{type: Available, status: 'True'}]}", false, "1 of 2 groups ready"},
		{"leaderworkerset available", "kind: LeaderWorkerSet\nspec: {replicas: 1}\nstatus: {readyReplicas: 1, conditions: [{type: Available, status: 'True'}]}", true, "1 of 1 groups ready"},
		{"leaderworkerset template changed, not yet seen", "kind: LeaderWorkerSet\nmetadata: {generation: 3}\nspec: {replicas: 1}\nstatus: {observedGeneration: 2, readyReplicas: 1, updatedReplicas: 1, conditions: [{type: Available, status: 'True'}]}", false, "waiting for the controller to observe generation 3"},
		{"leaderworkerset rolling: the old group still ready", "kind: LeaderWorkerSet\nmetadata: {generation: 3}\nspec: {replicas: 2}\nstatus: {observedGeneration: 3, readyReplicas: 2, updatedReplicas: 1, conditions: [{type: Available, status: 'True'}]}", false, "1 of 2 groups updated"},
		{"leaderworkerset rolled", "kind: LeaderWorkerSet\nmetadata: {generation: 3}\nspec: {replicas: 2}\nstatus: {observedGeneration: 3, readyReplicas: 2, updatedReplicas: 2, conditions: [{type: Available, status: 'True'}]}", true, "2 of 2 groups ready"},
		{"no conditions", "kind: Backend\nmetadata: {generation: 1}", true, "exists"},
		{"other conditions only", "kind: Backend\nstatus: {conditions: [{type: Programmed, status: 'False'}]}", true, "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := objtest.Object(t, "apiVersion: v1\n"+tt.object)
			ready, msg := Ready(u)
			if ready != tt.ready || msg != tt.message {
				t.Errorf("Ready = %v %q, want %v %q", ready, msg, tt.ready, tt.message)
			}
		})
	}
}
