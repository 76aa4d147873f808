package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"modelsync.dev/modelsync/internal/testing/hftest"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// sizedTree is a tree of two Models pinned to revisions: Qwen3-32B alone
// on one 80 GB GPU (its 61 GiB of weights leave too little KV cache for
// 40,960 tokens) and Qwen3-8B, which fits.
const sizedRoute = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: envoy-ai-gateway-nrp
spec:
  parentRefs:
  - name: envoy-ai-gateway-nrp
    kind: Gateway
    group: gateway.networking.k8s.io
  rules: []
`

func sizedModel(name, upstream, revision string, gpus int, maxLen int, extra ...string) string {
	return `apiVersion: modelsync.dev/v1alpha1
kind: Model
metadata:
  name: ` + name + `
spec:
  upstream: ` + upstream + `
  revision: ` + revision + `
  route: envoy-ai-gateway-nrp
  server:
    image: vllm/vllm-openai:v0.17.0
    gpus: ` + itoa(gpus) + `
    minGPUMemoryMB: 81559
    maxModelLen: ` + itoa(maxLen) + `
` + strings.Join(extra, "")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLockSizeValidate: lock reads the models' files from the Hub once;
// size and validate then work offline from the lock, and validate refuses
// the Model vLLM could not start, at its file:line, with vLLM's message and
// the maxModelLen that would fit.
func TestLockSizeValidate(t *testing.T) {
	hub := hftest.New(t)
	for _, m := range []struct{ repo, config string }{{"Qwen/Qwen3-32B", "Qwen--Qwen3-32B"}, {"Qwen/Qwen3-8B", "Qwen--Qwen3-8B"}} {
		cfg, err := os.ReadFile(filepath.Join("../../testdata/model-configs", m.config+".json"))
		if err != nil {
			t.Fatal(err)
		}
		hub.Add(m.repo, fmt.Sprintf("%040x", len(m.repo)), hftest.Checkpoint(cfg, hftest.Dense(cfg), 4), "main")
	}
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HOME", t.TempDir())

	dir := filepath.Join(t.TempDir(), "models-config")
	for name, text := range map[string]string{
		"route.yaml":            sizedRoute,
		"models/qwen3-32b.yaml": sizedModel("qwen3-32b", "Qwen/Qwen3-32B", "main", 1, 40960),
		"models/qwen3-8b.yaml":  sizedModel("qwen3-8b", "Qwen/Qwen3-8B", "main", 1, 40960, "    weightsGi: 30\n"),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Before the lock, validate says to write it.
	code, out, _ := run("validate", "--path", dir, "-n", "nrp-llm")
	if code == 0 || !strings.Contains(out, "Qwen/Qwen3-32B@main is not in modelsync.lock") || !strings.Contains(out, "run modelsync lock") {
		t.Fatalf("validate without a lock: exit %d\n%s", code, out)
	}
	if code, out, errOut := run("lock", "--path", dir, "-n", "nrp-llm"); code != 0 || !strings.Contains(out, "2 model(s)") {
		t.Fatalf("lock: exit %d\n%s%s", code, out, errOut)
	}
	lockPath := filepath.Join(dir, "modelsync.lock")
	good, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	// The lock is input like the tree. A forged entry at a pinned commit is
	// read again and replaced; a lock that is a link is replaced, never
	// written through; a broken lock is an error at its line, and lock
	// writes it again.
	forged := strings.ReplaceAll(string(good), "16381470720", "1638147072")
	if err := os.WriteFile(lockPath, []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("lock", "--path", dir, "-n", "nrp-llm"); code != 0 || !strings.Contains(errOut, "Qwen/Qwen3-8B@main: the lock's entry did not match the model's files; it is replaced") {
		t.Errorf("lock over a forged entry: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(lockPath); string(got) != string(good) {
		t.Errorf("lock did not restore the forged entry:\n%s", got)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("not modelsync's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(lockPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, lockPath); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("validate", "--path", dir, "-n", "nrp-llm"); code == 0 || !strings.Contains(out+errOut, "not a regular file") {
		t.Errorf("validate of a linked lock: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("lock", "--path", dir, "-n", "nrp-llm"); code != 0 || !strings.Contains(errOut, "written anew") {
		t.Errorf("lock over a linked lock: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(outside); string(got) != "not modelsync's\n" {
		t.Errorf("lock wrote through the link to a file outside the tree: %q", got)
	}
	if fi, err := os.Lstat(lockPath); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the lock after lock: %v, %v; want a regular file", fi, err)
	}
	broken := strings.Replace(string(good), "num_hidden_layers: 36", "num_hidden_layers: 0", 1)
	if err := os.WriteFile(lockPath, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("validate", "--path", dir, "-n", "nrp-llm"); code == 0 || !regexp.MustCompile(`modelsync.lock:\d+: Qwen/Qwen3-8B@main: config num_hidden_layers 0 is out of range`).MatchString(out+errOut) {
		t.Errorf("validate of a lock with 0 layers: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("lock", "--path", dir, "-n", "nrp-llm"); code != 0 {
		t.Errorf("lock over a broken lock: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(lockPath); string(got) != string(good) {
		t.Errorf("lock did not rewrite the broken lock:\n%s", got)
	}
	requests := hub.Requests.Load()

	code, out, errOut := run("size", "--path", dir, "-n", "nrp-llm", "-o", "json")
	if code != 1 {
		t.Fatalf("size: exit %d, want 1 (a model does not fit)\n%s%s", code, out, errOut)
	}
	var lines []map[string]any
	if err := json.Unmarshal([]byte(out), &lines); err != nil {
		t.Fatalf("size -o json: %v\n%s", err, out)
	}
	byName := map[string]map[string]any{}
	for _, l := range lines {
		byName[l["model"].(string)] = l
		for _, k := range []string{"weightsBytes", "parameters", "kvBytesPerToken", "kvCacheTokens", "maxModelLen", "fits"} {
			if _, ok := l[k]; !ok {
				t.Errorf("%s has no %s", l["model"], k)
			}
		}
	}
	if l := byName["qwen3-32b"]; l["fits"] != false || l["weightsBytes"] != float64(65_524_246_528) || l["kvBytesPerToken"] != float64(262_144) {
		t.Errorf("qwen3-32b: %v", l)
	}
	if l := byName["qwen3-8b"]; l["fits"] != true || l["weightsBytes"] != float64(16_381_470_720) || l["kvBytesPerToken"] != float64(147_456) {
		t.Errorf("qwen3-8b: %v", l)
	}

	code, out, _ = run("validate", "--path", dir, "-n", "nrp-llm")
	re := regexp.MustCompile(`models/qwen3-32b\.yaml:\d+.*vLLM would not start: To serve at least one request with the model's max seq len \(40960\).*available KV cache memory.*set maxModelLen to at most \d+, or use 2 GPUs`)
	if code == 0 || !re.MatchString(out) || regexp.MustCompile(`qwen3-8b.yaml.*would not start`).MatchString(out) {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
	// Given the GPUs vLLM needs, the Model passes, and the plan's models
	// table says it starts and with how much KV cache.
	model := filepath.Join(dir, "models", "qwen3-32b.yaml")
	data, _ := os.ReadFile(model)
	if err := os.WriteFile(model, []byte(strings.Replace(string(data), "gpus: 1\n", "gpus: 2\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run("validate", "--path", dir, "-n", "nrp-llm")
	if code != 0 {
		t.Fatalf("validate with 2 GPUs: exit %d\n%s", code, out)
	}
	// The generator sizes from the files' facts (Qwen3-32B: 61.02 GiB of
	// weights, a 71Gi claim); a size the Model sets stays, with a warning.
	if !strings.Contains(out, "qwen3-8b.yaml:9: warning: Model qwen3-8b: weightsGi 30, but the model's files say 15.26") {
		t.Errorf("no warning for the hand-set weightsGi:\n%s", out)
	}
	_, rendered, _ := run("render", "--path", dir, "-n", "nrp-llm")
	for _, want := range []string{"storage: 71Gi", "storage: 35Gi"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("render lacks %q", want)
		}
	}
	ns := kubetest.Namespace(t)
	code, out, errOut = run("diff", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir)
	if code != 1 || !regexp.MustCompile(`added +qwen3-32b .*\n +starts: 30\.5 GiB of weights per GPU, KV cache for \d+ tokens \(maxModelLen 40960; up to 40960 fits\)`).MatchString(out) {
		t.Errorf("diff: exit %d\n%s%s", code, out, errOut)
	}
	if hub.Requests.Load() != requests {
		t.Errorf("size and validate read the network: %d requests after the lock", hub.Requests.Load()-requests)
	}
}

// Every number flag has a range; size's, refused with the flag's name
// before anything is read (a GPU count of 0 was sized as 1, NaN gave an
// 8.6 billion GiB budget, a huge --max-model-len overflowed to "fits").
func TestSizeFlagsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		flags   []string
		want    string
		command []string
	}{
		{want: "--terminating-timeout -1s: out of range", command: []string{"prune", "--plan", "p.json", "--terminating-timeout", "-1s"}},
		{want: "--lease-duration 2562047h47m16.854775807s", command: []string{"sync", "--lease-duration", "2562047h47m16.854775807s"}},
		{want: "--timeout 1000h0m0s: out of range", command: []string{"sync", "--timeout", "1000h"}},
		{flags: []string{"--gpus", "0"}, want: "--gpus 0: out of range [1, 64]"},
		{flags: []string{"--gpus", "-4"}, want: "--gpus -4: out of range"},
		{flags: []string{"--gpu-memory-utilization", "1.5"}, want: "--gpu-memory-utilization 1.5: out of range (0, 1]"},
		{flags: []string{"--gpu-memory-utilization", "NaN"}, want: "--gpu-memory-utilization NaN: out of range"},
		{flags: []string{"--max-model-len", "-5"}, want: "--max-model-len -5: out of range"},
		{flags: []string{"--max-model-len", "99999999999999"}, want: "--max-model-len 99999999999999: out of range"},
		{flags: []string{"--gpu-memory", "-80Gi"}, want: "--gpu-memory -80Gi: out of range"},
	} {
		args := append([]string{"size", "Qwen/Qwen3-8B"}, tc.flags...)
		if tc.command != nil {
			args = tc.command
		}
		code, out, errOut := run(args...)
		if code < 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("size %v: exit %d, want an error %q\n%s%s", tc.flags, code, tc.want, out, errOut)
		}
	}
}

// lock on a tree whose Models name no revision writes an empty lock and
// says which Models it skipped and what to add, instead of "0 model(s)"
// alone.
func TestLockNamesTheModelsWithoutARevision(t *testing.T) {
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1") // nothing is read from the Hub
	dir := filepath.Join(t.TempDir(), "models-config")
	for name, text := range map[string]string{
		"route.yaml":            sizedRoute,
		"models/qwen3-32b.yaml": sizedModel("qwen3-32b", "Qwen/Qwen3-32B", "", 1, 40960, "    weightsGi: 61\n    paramsB: 32.8\n"),
		"models/qwen3-8b.yaml":  sizedModel("qwen3-8b", "Qwen/Qwen3-8B", "", 1, 40960, "    weightsGi: 16\n    paramsB: 8.2\n"),
		// Without a revision, weightsGi and paramsB are required: this
		// Model cannot be read, and lock says so.
		"models/broken.yaml": sizedModel("broken", "Qwen/Qwen3-4B", "", 1, 40960),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := run("lock", "--path", dir, "-n", "nrp-llm")
	if code != 0 || !strings.Contains(out, "0 model(s)") ||
		!strings.Contains(out, "skipped 2 served Model(s) without spec.revision: qwen3-32b, qwen3-8b") || !strings.Contains(out, "pin each to a commit (revision:") ||
		!strings.Contains(errOut, "models/broken.yaml") || !strings.Contains(errOut, "spec.server.weightsGi is required") || !strings.Contains(errOut, "not in the lock") {
		t.Errorf("lock without revisions: exit %d\n%s%s", code, out, errOut)
	}
}
