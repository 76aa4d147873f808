package model

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// LeaderWorkerSet's API (CRD in ../shared/crds/lws/).
const (
	LWSAPIVersion = "leaderworkerset.x-k8s.io/v1"
	// rayPort is the Ray head's port on the leader.
	rayPort = 6379
	// sglangDistPort is where SGLang's ranks meet on the leader.
	sglangDistPort = 20000
)

// MultiNode reports whether the model runs across several pods.
func (s *Server) MultiNode() bool { return s.Nodes > 1 }

// leaderWorkerSet runs one model instance as Nodes pods per replica: the
// leader serves the API, the workers join it. vLLM spreads over Ray (the
// leader starts the head and waits for every worker before the engine
// starts); SGLang uses its own multi-node mode, one rank per pod. Each pod
// asks for r.GPUs and gets its own cache claim.
func (m *Model) leaderWorkerSet(ns string, r Resolved) (*unstructured.Unstructured, error) {
	s := m.Spec.Server
	name := m.WorkloadName()
	leaderLine, workerLine := m.multiNodeLines(r)
	leader, err := m.podTemplate(ns, r, name, map[string]string{"app": name, "component": "llm", "role": "leader"}, leaderLine, true)
	if err != nil {
		return nil, err
	}
	worker, err := m.podTemplate(ns, r, name, map[string]string{"app": name, "component": "llm", "role": "worker"}, workerLine, false)
	if err != nil {
		return nil, err
	}
	claim, err := m.claimTemplate()
	if err != nil {
		return nil, err
	}
	var parts []map[string]any
	for _, v := range []any{&leader, &worker, &claim} {
		c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
		if err != nil {
			return nil, err
		}
		dropEmpty(c)
		parts = append(parts, c)
	}
	u := newObject(LWSAPIVersion, "LeaderWorkerSet", ns, name, m.labels(map[string]string{"app": name, "component": "llm"}), m.Metadata.Annotations, map[string]any{
		"replicas":      int64(r.Replicas),
		"startupPolicy": "LeaderCreated",
		"leaderWorkerTemplate": map[string]any{
			"size":                 int64(s.Nodes),
			"restartPolicy":        "RecreateGroupOnPodRestart",
			"leaderTemplate":       parts[0],
			"workerTemplate":       parts[1],
			"volumeClaimTemplates": []any{parts[2]},
			"persistentVolumeClaimRetentionPolicy": map[string]any{
				"whenDeleted": "Retain", "whenScaled": "Retain",
			},
		},
	})
	return u, nil
}

// multiNodeLines are the leader's and the workers' bash -c lines. The
// LeaderWorkerSet controller sets LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and
// LWS_WORKER_INDEX in every pod.
func (m *Model) multiNodeLines(r Resolved) (leader, worker string) {
	engine := m.commandLine(r)
	if m.Spec.Server.engine() == "sglang" {
		ranks := fmt.Sprintf(" --nnodes %d --node-rank $LWS_WORKER_INDEX --dist-init-addr $LWS_LEADER_ADDRESS:%d", m.Spec.Server.Nodes, sglangDistPort)
		return engine + ranks, engine + ranks
	}
	wait := `until python3 -c 'import os, ray; ray.init(address="auto", logging_level="ERROR"); ` +
		`raise SystemExit(sum(n["Alive"] for n in ray.nodes()) < int(os.environ["LWS_GROUP_SIZE"]))'; do sleep 5; done`
	head := "ray start --head --port=" + strconv.Itoa(rayPort) + " && " + wait + " && "
	if pre, rest, ok := strings.Cut(engine, " && python3 -m vllm"); ok && m.Spec.Server.PreStart != "" {
		// preStart runs first on the leader, as on a single pod.
		return pre + " && " + head + "python3 -m vllm" + rest + " --distributed-executor-backend ray",
			pre + " && ray start --address=$LWS_LEADER_ADDRESS:" + strconv.Itoa(rayPort) + " --block"
	}
	return head + engine + " --distributed-executor-backend ray",
		"ray start --address=$LWS_LEADER_ADDRESS:" + strconv.Itoa(rayPort) + " --block"
}

// leaderSelector selects a multi-node model's leaders, which serve the API.
func leaderSelector(name string) map[string]string {
	return map[string]string{"app": name, "role": "leader"}
}
