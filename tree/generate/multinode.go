package generate

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/workload"
)

// leaderWorkerSet runs one model instance as Nodes pods per replica: the
// leader serves the API, the workers join it. vLLM spreads over Ray (the
// leader starts the head and waits for every worker before the engine
// starts); SGLang uses its own multi-node mode, one rank per pod. Each pod
// asks for r.GPUs and gets its own cache claim.
func leaderWorkerSet(m *model.Model, ns string, r model.Resolved) (*unstructured.Unstructured, error) {
	s := m.Spec.Server
	name := m.WorkloadName()
	leaderLine, workerLine := engine.MultiNodeLines(m, r)
	leader, err := podTemplate(m, ns, r, enginePod{container: name, labels: map[string]string{model.LabelApp: name, model.LabelComponent: model.ComponentLLM, "role": "leader"}, line: leaderLine, serves: true})
	if err != nil {
		return nil, err
	}
	worker, err := podTemplate(m, ns, r, enginePod{container: name, labels: map[string]string{model.LabelApp: name, model.LabelComponent: model.ComponentLLM, "role": "worker"}, line: workerLine})
	if err != nil {
		return nil, err
	}
	claim, err := claimTemplate(m)
	if err != nil {
		return nil, err
	}
	u := newObject(workload.LWSAPIVersion, workload.LeaderWorkerSet.Kind, ns, name, labels(m, map[string]string{model.LabelApp: name, model.LabelComponent: model.ComponentLLM}), workloadAnnotations(m), map[string]any{
		"replicas":      int64(r.Replicas),
		"startupPolicy": "LeaderCreated",
		"leaderWorkerTemplate": map[string]any{
			"size":                 int64(s.Nodes),
			"restartPolicy":        "RecreateGroupOnPodRestart",
			"leaderTemplate":       leader,
			"workerTemplate":       worker,
			"volumeClaimTemplates": []any{claim},
			"persistentVolumeClaimRetentionPolicy": map[string]any{
				"whenDeleted": "Retain", "whenScaled": "Retain",
			},
		},
	})
	return u, nil
}

// leaderSelector selects a multi-node model's leaders, which serve the API.
func leaderSelector(name string) map[string]string {
	return map[string]string{model.LabelApp: name, "role": "leader"}
}
