// Package hftest is a Hugging Face Hub for tests: an httptest server that
// resolves revisions, lists trees and serves files with Range, redirecting
// weight shards to a second "CDN" server as the Hub does. Shards are real
// safetensors headers followed by virtual zeros, so a 5 GB shard costs
// nothing.
package hftest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// File is a repository file: Data, then zeros up to Size.
type File struct {
	Data []byte
	Size int64
}

// Hub serves repositories at /api/models/... and /{repo}/resolve/...
type Hub struct {
	URL   string
	Token string // when set, requests without it get 401
	// Fail500 makes the first request for each named path fail with 500.
	Fail500 map[string]bool

	CDNSawAuth  atomic.Bool
	InFlight    atomic.Int64
	MaxInFlight atomic.Int64
	Requests    atomic.Int64
	mu          gosync.Mutex
	repos       map[string]map[string]string // repo -> revision -> commit
	files       map[string]map[string]File   // repo@commit -> path -> file
	failed      map[string]bool
	cdn         *httptest.Server
}

// New starts a Hub and its CDN, closed with the test.
func New(t testing.TB) *Hub {
	h := &Hub{repos: map[string]map[string]string{}, files: map[string]map[string]File{}, failed: map[string]bool{}, Fail500: map[string]bool{}}
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	t.Cleanup(h.cdn.Close)
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// Add puts a repository's files at commit, reachable by each revision.
func (h *Hub) Add(repo, commit string, files map[string]File, revisions ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.repos[repo] == nil {
		h.repos[repo] = map[string]string{}
	}
	h.repos[repo][commit] = commit
	for _, r := range revisions {
		h.repos[repo][r] = commit
	}
	h.files[repo+"@"+commit] = files
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	h.Requests.Add(1)
	if h.Token != "" && r.Header.Get("Authorization") != "Bearer "+h.Token {
		http.Error(w, "Access to model is restricted", http.StatusUnauthorized)
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/api/models/"):
		rest := strings.TrimPrefix(path, "/api/models/")
		for _, verb := range []string{"/revision/", "/tree/"} {
			repo, rev, ok := strings.Cut(rest, verb)
			if !ok {
				continue
			}
			commit, ok := h.commit(repo, rev)
			if !ok {
				http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
				return
			}
			if verb == "/revision/" {
				_ = json.NewEncoder(w).Encode(map[string]string{"sha": commit, "id": repo})
				return
			}
			var entries []map[string]any
			files := h.filesAt(repo, commit)
			for _, p := range sortedKeys(files) {
				entries = append(entries, map[string]any{"type": "file", "path": p, "size": files[p].Size})
			}
			_ = json.NewEncoder(w).Encode(entries)
			return
		}
	default:
		repo, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/resolve/")
		if !ok {
			break
		}
		rev, file, _ := strings.Cut(rest, "/")
		commit, ok := h.commit(repo, rev)
		f, found := h.filesAt(repo, commit)[file]
		if !ok || !found {
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		if strings.HasSuffix(file, ".safetensors") {
			http.Redirect(w, r, h.cdn.URL+"/"+repo+"@"+commit+"/"+file, http.StatusFound)
			return
		}
		serveFile(w, r, file, f)
		return
	}
	http.NotFound(w, r)
}

func (h *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	n := h.InFlight.Add(1)
	defer h.InFlight.Add(-1)
	for {
		m := h.MaxInFlight.Load()
		if n <= m || h.MaxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond) // let concurrent readers overlap
	if r.Header.Get("Authorization") != "" {
		h.CDNSawAuth.Store(true)
	}
	key, file, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "@")
	commit, file, _ := strings.Cut(file, "/")
	h.mu.Lock()
	first := h.Fail500[file] && !h.failed[file]
	h.failed[file] = true
	h.mu.Unlock()
	if first {
		http.Error(w, "upstream hiccup", http.StatusInternalServerError)
		return
	}
	f, ok := h.filesAt(key, commit)[file]
	if !ok {
		http.NotFound(w, r)
		return
	}
	serveFile(w, r, file, f)
}

func (h *Hub) commit(repo, rev string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.repos[repo][rev]
	return c, ok
}

func (h *Hub) filesAt(repo, commit string) map[string]File {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.files[repo+"@"+commit]
}

func serveFile(w http.ResponseWriter, r *http.Request, name string, f File) {
	size := max(f.Size, int64(len(f.Data)))
	http.ServeContent(w, r, name, time.Time{}, io.NewSectionReader(zeroPadded(f.Data), 0, size))
}

// zeroPadded reads data, then zeros.
type zeroPadded []byte

func (z zeroPadded) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(z)) {
		n = copy(p, z[off:])
	}
	clear(p[n:])
	return len(p), nil
}

func sortedKeys(m map[string]File) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Tensor is a tensor of a built checkpoint.
type Tensor struct {
	Name  string
	DType string
	Shape []int64
}

var bytesPer = map[string]int64{"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1, "I32": 4, "I8": 1}

func (t Tensor) size() int64 {
	n := bytesPer[t.DType]
	if n == 0 {
		panic("hftest: no size for dtype " + t.DType)
	}
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Shard is one safetensors file holding tensors: its header, padded with
// spaces to at least pad bytes, then virtual zeros.
func Shard(tensors []Tensor, pad int) File {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, t := range tensors {
		header[t.Name] = map[string]any{"dtype": t.DType, "shape": t.Shape, "data_offsets": []int64{off, off + t.size()}}
		off += t.size()
	}
	js, _ := json.Marshal(header)
	if len(js) < pad {
		js = append(js, bytes.Repeat([]byte(" "), pad-len(js))...)
	}
	data := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	data = append(data, js...)
	return File{Data: data, Size: int64(len(data)) + off}
}

// Checkpoint lays tensors out over n shards with an index, as
// save_pretrained does, beside config.json.
func Checkpoint(config []byte, tensors []Tensor, n int) map[string]File {
	files := map[string]File{"config.json": {Data: config}}
	if n == 1 {
		files["model.safetensors"] = Shard(tensors, 0)
		return files
	}
	weightMap := map[string]string{}
	var total int64
	per := (len(tensors) + n - 1) / n
	for i := 0; i < n; i++ {
		lo, hi := min(i*per, len(tensors)), min((i+1)*per, len(tensors))
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
		files[name] = Shard(tensors[lo:hi], 0)
		for _, t := range tensors[lo:hi] {
			weightMap[t.Name] = name
			total += t.size()
		}
	}
	index, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap})
	files["model.safetensors.index.json"] = File{Data: index}
	return files
}

// Dense is the tensors of a Llama/Qwen3-shaped dense model in bf16, built
// from its config.json.
func Dense(config []byte) []Tensor {
	var c struct {
		Hidden  int64  `json:"hidden_size"`
		Layers  int    `json:"num_hidden_layers"`
		Heads   int64  `json:"num_attention_heads"`
		KV      int64  `json:"num_key_value_heads"`
		HeadDim int64  `json:"head_dim"`
		Inter   int64  `json:"intermediate_size"`
		Vocab   int64  `json:"vocab_size"`
		Type    string `json:"model_type"`
		Tied    bool   `json:"tie_word_embeddings"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		panic(err)
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	bf := func(name string, shape ...int64) Tensor { return Tensor{name, "BF16", shape} }
	ts := []Tensor{bf("model.embed_tokens.weight", c.Vocab, c.Hidden)}
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts,
			bf(p+"self_attn.q_proj.weight", c.Heads*c.HeadDim, c.Hidden),
			bf(p+"self_attn.k_proj.weight", c.KV*c.HeadDim, c.Hidden),
			bf(p+"self_attn.v_proj.weight", c.KV*c.HeadDim, c.Hidden),
			bf(p+"self_attn.o_proj.weight", c.Hidden, c.Heads*c.HeadDim),
			bf(p+"mlp.gate_proj.weight", c.Inter, c.Hidden),
			bf(p+"mlp.up_proj.weight", c.Inter, c.Hidden),
			bf(p+"mlp.down_proj.weight", c.Hidden, c.Inter),
			bf(p+"input_layernorm.weight", c.Hidden),
			bf(p+"post_attention_layernorm.weight", c.Hidden))
		if c.Type == "qwen3" {
			ts = append(ts, bf(p+"self_attn.q_norm.weight", c.HeadDim), bf(p+"self_attn.k_norm.weight", c.HeadDim))
		}
	}
	ts = append(ts, bf("model.norm.weight", c.Hidden))
	if !c.Tied {
		ts = append(ts, bf("lm_head.weight", c.Vocab, c.Hidden))
	}
	return ts
}
