package model

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Each item of spec.server.args reaches the engine as one argument: the
// generated `bash -c` line is run through bash, with the engine replaced by
// printf, and the arguments it receives are compared.
func TestArgsReachTheEngineWhole(t *testing.T) {
	args := []string{"--compilation-config", `{"cudagraph_mode": "PIECEWISE"}`, "--served-model-name", "it's", "--x=$HOME", "--enforce-eager", ""}
	m := &Model{Spec: Spec{Upstream: "org/m", Server: &Server{Image: "vllm/vllm-openai:v0.11.2", Hardware: Hardware{GPUs: 1}, Args: args}}}
	line := m.commandLine(m.Spec.Server.ResolvedVariants()[0])
	engine := "python3 -m vllm.entrypoints.openai.api_server"
	if !strings.HasPrefix(line, engine) {
		t.Fatalf("command line %q does not start with %q", line, engine)
	}
	out, err := exec.Command("bash", "-c", `printf '%s\n' `+strings.TrimPrefix(line, engine)+` | tail -n 7`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(args, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")); d != "" {
		t.Errorf("arguments the engine receives (-want +got):\n%s\nline: %s", d, line)
	}
}
