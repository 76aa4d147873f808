package engine

import (
	"fmt"
	"strconv"
	"strings"

	"modelsync.dev/modelsync/tree/model"
)

const (
	// rayPort is the Ray head's port on a multi-node model's leader.
	rayPort = 6379
	// sglangDistPort is where SGLang's ranks meet on the leader.
	sglangDistPort = 20000
)

// MultiNodeLines are the leader's and the workers' bash -c lines. The
// LeaderWorkerSet controller sets LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and
// LWS_WORKER_INDEX in every pod.
func MultiNodeLines(m *model.Model, r model.Resolved) (leader, worker string) {
	line := Line(m, r)
	if m.Spec.Server.EngineName() == SGLang {
		ranks := fmt.Sprintf(" --nnodes %d --node-rank $LWS_WORKER_INDEX --dist-init-addr $LWS_LEADER_ADDRESS:%d", m.Spec.Server.Nodes, sglangDistPort)
		return line + ranks, line + ranks
	}
	wait := `until python3 -c 'import os, ray; ray.init(address="auto", logging_level="ERROR"); ` +
		`raise SystemExit(sum(n["Alive"] for n in ray.nodes()) < int(os.environ["LWS_GROUP_SIZE"]))'; do sleep 5; done`
	head := "ray start --head --port=" + strconv.Itoa(rayPort) + " && " + wait + " && "
	if pre, rest, ok := strings.Cut(line, " && python3 -m vllm"); ok && m.Spec.Server.PreStart != "" {
		// preStart runs first on the leader, as on a single pod.
		return pre + " && " + head + "python3 -m vllm" + rest + " --distributed-executor-backend ray",
			pre + " && ray start --address=$LWS_LEADER_ADDRESS:" + strconv.Itoa(rayPort) + " --block"
	}
	return head + line + " --distributed-executor-backend ray",
		"ray start --address=$LWS_LEADER_ADDRESS:" + strconv.Itoa(rayPort) + " --block"
}
