package modelfiles_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"modelsync.dev/modelsync/internal/testing/hftest"
	"modelsync.dev/modelsync/tree/modelfiles"
)

func config(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../testdata/model-configs", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func hub(h *hftest.Hub, repo, rev string) *modelfiles.Hub {
	return &modelfiles.Hub{Endpoint: h.URL, Repo: repo, Revision: rev, Token: h.Token}
}

// TestPublishedTotals: headers built from the real configs add up to the
// total_size of the published indexes, read through the Hub with range
// requests and the CDN redirect.
func TestPublishedTotals(t *testing.T) {
	tests := []struct {
		config string
		shards int
		bytes  int64
		params int64
	}{
		{"meta-llama--Meta-Llama-3.1-8B", 4, 16_060_522_496, 8_030_261_248},
		{"Qwen--Qwen3-8B", 5, 16_381_470_720, 8_190_735_360},
		{"Qwen--Qwen3-32B", 17, 65_524_246_528, 32_762_123_264},
	}
	h := hftest.New(t)
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			cfg := config(t, tt.config)
			repo := strings.Replace(tt.config, "--", "/", 1)
			h.Add(repo, "0123abcd", hftest.Checkpoint(cfg, hftest.Dense(cfg), tt.shards), "main")
			f, err := modelfiles.Read(t.Context(), hub(h, repo, "main"))
			if err != nil {
				t.Fatal(err)
			}
			if f.WeightsBytes != tt.bytes || f.Parameters != tt.params || f.Commit != "0123abcd" || f.Shards != tt.shards {
				t.Errorf("got %d bytes, %d parameters, commit %s, %d shards; want %d, %d, 0123abcd, %d", f.WeightsBytes, f.Parameters, f.Commit, f.Shards, tt.bytes, tt.params, tt.shards)
			}
		})
	}
}

// TestHubFailures: each way the Hub can refuse is a clear error, the token
// never reaches the CDN, and a shard that fails once is read again.
func TestHubFailures(t *testing.T) {
	cfg := config(t, "Qwen--Qwen3-8B")
	files := hftest.Checkpoint(cfg, hftest.Dense(cfg), 3)

	t.Run("gated without a token", func(t *testing.T) {
		h := hftest.New(t)
		h.Token = "hf_secret"
		h.Add("Qwen/Qwen3-8B", "c1", files, "main")
		_, err := modelfiles.Read(t.Context(), &modelfiles.Hub{Endpoint: h.URL, Repo: "Qwen/Qwen3-8B", Revision: "main"})
		if err == nil || !strings.Contains(err.Error(), "gated or private: set HF_TOKEN") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("the token stays with the Hub", func(t *testing.T) {
		h := hftest.New(t)
		h.Token = "hf_secret"
		h.Add("Qwen/Qwen3-8B", "c1", files, "main")
		if _, err := modelfiles.Read(t.Context(), hub(h, "Qwen/Qwen3-8B", "main")); err != nil {
			t.Fatal(err)
		}
		if h.CDNSawAuth.Load() {
			t.Error("the CDN received the Authorization header")
		}
	})
	t.Run("a repository that does not exist", func(t *testing.T) {
		h := hftest.New(t)
		_, err := modelfiles.Read(t.Context(), hub(h, "Qwen/Qwen9", "main"))
		if !errors.Is(err, modelfiles.ErrNotFound) || !strings.Contains(err.Error(), "Qwen/Qwen9@main") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a revision that is gone", func(t *testing.T) {
		h := hftest.New(t)
		h.Add("Qwen/Qwen3-8B", "c1", files, "main")
		_, err := modelfiles.Read(t.Context(), hub(h, "Qwen/Qwen3-8B", "deadbeef"))
		if !errors.Is(err, modelfiles.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an index that names a missing shard", func(t *testing.T) {
		h := hftest.New(t)
		broken := map[string]hftest.File{}
		for k, v := range files {
			if k != "model-00002-of-00003.safetensors" {
				broken[k] = v
			}
		}
		h.Add("Qwen/Qwen3-8B", "c1", broken, "main")
		_, err := modelfiles.Read(t.Context(), hub(h, "Qwen/Qwen3-8B", "main"))
		if err == nil || !strings.Contains(err.Error(), "the index names model-00002-of-00003.safetensors, which the repository does not have") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no safetensors at all", func(t *testing.T) {
		h := hftest.New(t)
		h.Add("Qwen/Qwen3-8B", "c1", map[string]hftest.File{"config.json": {Data: cfg}, "pytorch_model.bin": {Size: 1 << 30}}, "main")
		_, err := modelfiles.Read(t.Context(), hub(h, "Qwen/Qwen3-8B", "main"))
		if err == nil || !strings.Contains(err.Error(), "set the Model's weightsGi and paramsB by hand") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("hundreds of shards, one failing once", func(t *testing.T) {
		h := hftest.New(t)
		h.Fail500["model-00007-of-00282.safetensors"] = true
		var tensors []hftest.Tensor
		for i := range 282 * 2 {
			tensors = append(tensors, hftest.Tensor{Name: fmt.Sprintf("model.layers.%d.w", i), DType: "BF16", Shape: []int64{1024, 1024}})
		}
		h.Add("zai-org/GLM-5", "c9", hftest.Checkpoint(config(t, "zai-org--GLM-5"), tensors, 282), "main")
		f, err := modelfiles.Read(t.Context(), hub(h, "zai-org/GLM-5", "main"))
		if err != nil {
			t.Fatal(err)
		}
		if f.Shards != 282 || f.WeightsBytes != 282*2*1024*1024*2 {
			t.Errorf("%d shards, %d bytes", f.Shards, f.WeightsBytes)
		}
		if m := h.MaxInFlight.Load(); m > modelfiles.Concurrency {
			t.Errorf("%d shard reads at once, more than %d", m, modelfiles.Concurrency)
		}
	})
}

// TestHeaderBoundaries: headers around the 100,000-byte first read (the
// huggingface_hub #4602 off-by-one), space padding, and bad headers.
func TestHeaderBoundaries(t *testing.T) {
	cfg := config(t, "Qwen--Qwen3-8B")
	tensors := []hftest.Tensor{{Name: "w", DType: "BF16", Shape: []int64{4096, 4096}}}
	for _, pad := range []int{99_991, 99_992, 99_993, 99_994, 100_000, 250_000} {
		t.Run(fmt.Sprint(pad), func(t *testing.T) {
			dir := t.TempDir()
			shard := hftest.Shard(tensors, pad)
			data := append(shard.Data, make([]byte, shard.Size-int64(len(shard.Data)))...)
			write(t, dir, "model.safetensors", data)
			write(t, dir, "config.json", cfg)
			f, err := modelfiles.Read(t.Context(), modelfiles.Dir{Path: dir})
			if err != nil {
				t.Fatal(err)
			}
			if f.WeightsBytes != 4096*4096*2 {
				t.Errorf("%d bytes", f.WeightsBytes)
			}
		})
	}
	bad := []struct {
		name, header, want string
	}{
		{"unknown dtype", `{"w":{"dtype":"Q3","shape":[2],"data_offsets":[0,1]}}`, `dtype "Q3"`},
		{"size does not match the shape", `{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,3]}}`, "are not 3 bytes"},
		{"a hole", `{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}`, "hole at byte 2"},
		{"not JSON", `{"w":`, "not JSON"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := modelfiles.ParseHeader([]byte(tt.header))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := modelfiles.HeaderLength(bytes.Repeat([]byte{0xff}, 8)); err == nil || !strings.Contains(err.Error(), "not a safetensors file") {
		t.Errorf("a huge length: %v", err)
	}
}

// TestConfigNaN: Python's NaN and Infinity read as null, strings untouched.
func TestConfigNaN(t *testing.T) {
	c, err := modelfiles.ParseConfig([]byte(`{"model_type":"llama","note":"NaN stays","num_hidden_layers":2,"num_attention_heads":4,"hidden_size":64,"max_position_embeddings":128,"rope_scaling":{"factor":NaN,"x":-Infinity}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.KVHeads != 4 || c.HeadDim != 16 {
		t.Errorf("defaults: %d KV heads, head_dim %d", c.KVHeads, c.HeadDim)
	}
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQuantizedParameters: bytes are the headers' ranges whatever the
// dtype; parameters count packed 4-bit values and leave scales out.
func TestQuantizedParameters(t *testing.T) {
	tests := []struct {
		name, quant string
		tensors     []hftest.Tensor
		bytes       int64
		params      int64
	}{
		{"MXFP4 experts (gpt-oss): blocks hold two values a byte, scales are not parameters", "mxfp4", []hftest.Tensor{
			{Name: "model.layers.0.mlp.experts.gate_up_proj_blocks", DType: "U8", Shape: []int64{32, 5760, 90, 16}},
			{Name: "model.layers.0.mlp.experts.gate_up_proj_scales", DType: "U8", Shape: []int64{32, 5760, 90}},
			{Name: "model.layers.0.self_attn.q_proj.weight", DType: "BF16", Shape: []int64{4096, 2880}},
		}, 32*5760*90*16 + 32*5760*90 + 4096*2880*2, 2*32*5760*90*16 + 4096*2880},
		{"FP8 blocks (DeepSeek, MiniMax): one byte a value, inverse scales left out", "fp8", []hftest.Tensor{
			{Name: "model.layers.0.mlp.down_proj.weight", DType: "F8_E4M3", Shape: []int64{7168, 2048}},
			{Name: "model.layers.0.mlp.down_proj.weight_scale_inv", DType: "F32", Shape: []int64{56, 16}},
		}, 7168*2048 + 56*16*4, 7168 * 2048},
		{"AWQ int4: eight values an I32", "awq", []hftest.Tensor{
			{Name: "model.layers.0.mlp.up_proj.qweight", DType: "I32", Shape: []int64{4096, 1792}},
			{Name: "model.layers.0.mlp.up_proj.scales", DType: "F16", Shape: []int64{32, 14336}},
		}, 4096*1792*4 + 32*14336*2, 8 * 4096 * 1792},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := fmt.Sprintf(`{"model_type":"x","num_hidden_layers":1,"num_attention_heads":8,"hidden_size":1024,"max_position_embeddings":4096,"quantization_config":{"quant_method":%q}}`, tt.quant)
			write(t, dir, "config.json", []byte(cfg))
			shard := hftest.Shard(tt.tensors, 0)
			write(t, dir, "model.safetensors", append(shard.Data, make([]byte, shard.Size-int64(len(shard.Data)))...))
			f, err := modelfiles.Read(t.Context(), modelfiles.Dir{Path: dir, Revision: "local"})
			if err != nil {
				t.Fatal(err)
			}
			if f.WeightsBytes != tt.bytes || f.Parameters != tt.params {
				t.Errorf("%d bytes, %d parameters; want %d, %d", f.WeightsBytes, f.Parameters, tt.bytes, tt.params)
			}
		})
	}
}

// The Hub token never crosses to http: a Hub on https that redirects to
// http on its own host and port (one port serving both) gets the file
// request without Authorization.
func TestTokenNeverFollowsARedirectToHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsConns, plainConns := newConnListener(ln.Addr()), newConnListener(ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				tlsConns.close()
				plainConns.close()
				return
			}
			br := bufio.NewReader(c)
			first, err := br.Peek(1)
			if err != nil {
				c.Close()
				continue
			}
			pc := &peekedConn{Conn: c, r: br}
			if first[0] == 0x16 { // a TLS handshake record
				tlsConns.conns <- pc
			} else {
				plainConns.conns <- pc
			}
		}
	}()
	t.Cleanup(func() { ln.Close() })
	var plainSawToken atomic.Bool
	plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			plainSawToken.Store(true)
		}
		http.NotFound(w, r)
	})}
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+ln.Addr().String()+r.URL.Path, http.StatusFound)
	}))
	secure.Listener = tlsConns
	secure.StartTLS()
	go plain.Serve(plainConns)
	t.Cleanup(func() { secure.Close(); plain.Close() })

	hub := &modelfiles.Hub{Endpoint: "https://" + ln.Addr().String(), Token: "hf_secret", Repo: "Qwen/Qwen3-8B", Revision: "main", Client: secure.Client()}
	_, err = modelfiles.Read(t.Context(), hub)
	if err == nil {
		t.Fatal("read through a redirect to a 404 succeeded")
	}
	if plainSawToken.Load() {
		t.Error("the token was sent over http after a redirect from https")
	}
}

// connListener hands out connections another goroutine accepted.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  gosync.Once
	done  chan struct{}
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) close()         { l.once.Do(func() { close(l.done) }) }
func (l *connListener) Close() error   { l.close(); return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// peekedConn reads first what was peeked.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// The lock is input like the tree: every fact a merge request could forge
// is range-checked, and the error names the lock's line and the fact.
func TestLockFactsAreRangeChecked(t *testing.T) {
	entry := func(field, value string) string {
		facts := map[string]string{
			"commit": "'" + strings.Repeat("a", 40) + "'", "num_hidden_layers": "36", "num_attention_heads": "32", "num_key_value_heads": "8",
			"head_dim": "128", "hidden_size": "4096", "max_position_embeddings": "40960", "weightsBytes": "16381470720", "parameters": "8190735360", "shards": "5",
		}
		facts[field] = value
		return "models:\n  Qwen/Qwen3-8B@main:\n    commit: " + facts["commit"] + "\n    config:\n      model_type: qwen3\n" +
			"      num_hidden_layers: " + facts["num_hidden_layers"] + "\n      num_attention_heads: " + facts["num_attention_heads"] +
			"\n      num_key_value_heads: " + facts["num_key_value_heads"] + "\n      head_dim: " + facts["head_dim"] +
			"\n      hidden_size: " + facts["hidden_size"] + "\n      max_position_embeddings: " + facts["max_position_embeddings"] +
			"\n    weightsBytes: " + facts["weightsBytes"] + "\n    bytesByDType: {BF16: " + facts["weightsBytes"] + "}\n    parameters: " + facts["parameters"] +
			"\n    shards: " + facts["shards"] + "\n"
	}
	if _, err := modelfiles.ParseLock([]byte(entry("", "")), "modelsync.lock"); err != nil {
		t.Fatalf("a real entry: %v", err)
	}
	for _, tc := range []struct{ field, value, want string }{
		{"num_hidden_layers", "0", "num_hidden_layers 0 is out of range"},
		{"num_hidden_layers", "-1", "num_hidden_layers -1 is out of range"},
		{"head_dim", "0", "head_dim 0 is out of range"},
		{"num_key_value_heads", "-8", "num_key_value_heads -8"},
		{"weightsBytes", "1", "weightsBytes 1 is out of range"},
		{"weightsBytes", "-17179869184", "weightsBytes -17179869184"},
		{"parameters", "99999999999999999", "parameters 99999999999999999 is out of range"},
		{"max_position_embeddings", "99999999999999", "max_position_embeddings 99999999999999"},
		{"commit", "main", `commit "main" is not a 40-digit commit`},
		{"shards", "0", "shards 0"},
	} {
		_, err := modelfiles.ParseLock([]byte(entry(tc.field, tc.value)), "models-config/modelsync.lock")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "models-config/modelsync.lock:2: Qwen/Qwen3-8B@main") {
			t.Errorf("%s %s: got %v, want %q at line 2", tc.field, tc.value, err, tc.want)
		}
	}
}

// The lock is read only as a regular file of the tree: a link (to a file
// outside, or to /dev/zero) and a FIFO are refused before they are opened,
// so nothing outside the tree is read and nothing blocks or fills memory.
func TestLockIsReadOnlyAsARegularFile(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("models: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, create := range map[string]func(path string) error{
		"a link outside the tree": func(p string) error { return os.Symlink(outside, p) },
		"a link to /dev/zero":     func(p string) error { return os.Symlink("/dev/zero", p) },
		"a FIFO":                  func(p string) error { return syscall.Mkfifo(p, 0o644) },
	} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "models-config"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := create(filepath.Join(root, "models-config", modelfiles.LockFile)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := modelfiles.ReadLock(os.DirFS(root), "models-config")
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: got %v, want a refusal", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadLock did not return", name)
		}
	}
}
