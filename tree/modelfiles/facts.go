package modelfiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Source is where a model's files are read from: the Hub or a directory.
type Source interface {
	// Commit is the revision the files are read at, resolved.
	Commit(ctx context.Context) (string, error)
	// Files lists the repository's file paths.
	Files(ctx context.Context) ([]string, error)
	// ReadRange reads up to n bytes of path from byte off; fewer at the end
	// of the file.
	ReadRange(ctx context.Context, path string, off, n int64) ([]byte, error)
	// String names the source in errors.
	String() string
}

// Facts are what sizing needs from a model's files; `modelsync lock` keeps
// them in the tree so that no other command reads the network.
type Facts struct {
	Commit string  `json:"commit"`
	Config *Config `json:"config"`
	// WeightsBytes is the sum of the tensors' byte ranges of the shards the
	// index names: what the engine loads.
	WeightsBytes int64 `json:"weightsBytes"`
	// BytesByDType splits WeightsBytes by safetensors dtype.
	BytesByDType map[string]int64 `json:"bytesByDType"`
	// Parameters counts elements, with packed 4-bit weights counted per value.
	Parameters int64 `json:"parameters"`
	Shards     int   `json:"shards"`
}

// prefetch is the first read of a shard: the length and, for nearly every
// shard, the whole header.
const prefetch = 100_000

// Concurrency bounds the shard headers read at once.
const Concurrency = 8

// Read collects the Facts of the model at src.
func Read(ctx context.Context, src Source) (*Facts, error) {
	commit, err := src.Commit(ctx)
	if err != nil {
		return nil, err
	}
	files, err := src.Files(ctx)
	if err != nil {
		return nil, err
	}
	data, err := readWhole(ctx, src, files, "config.json", 4<<20)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	shards, err := shardsOf(ctx, src, files)
	if err != nil {
		return nil, err
	}
	headers := make([][]Tensor, len(shards))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	for i, shard := range shards {
		g.Go(func() error {
			t, err := readHeader(gctx, src, shard)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", src, shard, err)
			}
			headers[i] = t
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	f := &Facts{Commit: commit, Config: cfg, BytesByDType: map[string]int64{}, Shards: len(shards)}
	for _, tensors := range headers {
		for _, t := range tensors {
			f.WeightsBytes += t.Bytes()
			f.BytesByDType[t.DType] += t.Bytes()
			f.Parameters += parameters(t, cfg.Quantization)
		}
	}
	return f, nil
}

// parameters counts t's model parameters: scales are not parameters, and
// packed 4-bit weights hold several per element (SIZING.md §2.3).
func parameters(t Tensor, quant string) int64 {
	name := t.Name
	for _, scale := range []string{"_scale_inv", ".weight_scale", ".input_scale", "_scales", ".scales", ".qzeros", ".g_idx", ".SCB", ".weight_format"} {
		if strings.HasSuffix(name, scale) {
			return 0
		}
	}
	switch {
	case quant == "mxfp4" && strings.HasSuffix(name, "_blocks") && t.DType == "U8":
		return t.Elements() * 2
	case (quant == "awq" || quant == "gptq") && strings.HasSuffix(name, ".qweight") && t.DType == "I32":
		return t.Elements() * 8
	case quant == "modelopt" && t.DType == "U8":
		return t.Elements() * 2
	}
	return t.Elements()
}

// shardsOf names the weight files: the index's shards, or the one file.
// Other files (original/, consolidated*, *.bin, GGUF) are not what the
// engine loads from a Hugging Face checkpoint, and are not read.
func shardsOf(ctx context.Context, src Source, files []string) ([]string, error) {
	if slices.Contains(files, "model.safetensors.index.json") {
		data, err := readWhole(ctx, src, files, "model.safetensors.index.json", 64<<20)
		if err != nil {
			return nil, err
		}
		var index struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &index); err != nil {
			return nil, fmt.Errorf("%s: model.safetensors.index.json: %w", src, err)
		}
		var shards []string
		for _, s := range index.WeightMap {
			if !slices.Contains(shards, s) {
				shards = append(shards, s)
			}
		}
		if len(shards) == 0 {
			return nil, fmt.Errorf("%s: model.safetensors.index.json names no shard", src)
		}
		for _, s := range shards {
			if !slices.Contains(files, s) {
				return nil, fmt.Errorf("%s: the index names %s, which the repository does not have", src, s)
			}
		}
		slices.Sort(shards)
		return shards, nil
	}
	if slices.Contains(files, "model.safetensors") {
		return []string{"model.safetensors"}, nil
	}
	return nil, fmt.Errorf("%s has no model.safetensors or model.safetensors.index.json; modelsync reads safetensors checkpoints only: set the Model's weightsGi and paramsB by hand", src)
}

// readHeader reads a shard's header: one prefetch, and a second read only
// when the header is longer than it.
func readHeader(ctx context.Context, src Source, shard string) ([]Tensor, error) {
	head, err := src.ReadRange(ctx, shard, 0, prefetch)
	if err != nil {
		return nil, err
	}
	n, err := HeaderLength(head)
	if err != nil {
		return nil, err
	}
	if have := int64(len(head)) - 8; have < n {
		if int64(len(head)) < prefetch {
			return nil, fmt.Errorf("the file ends inside its %d-byte header", n)
		}
		rest, err := src.ReadRange(ctx, shard, int64(len(head)), n-have)
		if err != nil {
			return nil, err
		}
		if int64(len(rest)) != n-have {
			return nil, fmt.Errorf("the file ends inside its %d-byte header", n)
		}
		head = append(head, rest...)
	}
	return ParseHeader(head[8 : 8+n])
}

// readWhole reads a small file whole, refusing one larger than limit.
func readWhole(ctx context.Context, src Source, files []string, path string, limit int64) ([]byte, error) {
	if !slices.Contains(files, path) {
		return nil, fmt.Errorf("%s has no %s", src, path)
	}
	data, err := src.ReadRange(ctx, path, 0, limit+1)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", src, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %s is larger than %d bytes", src, path, limit)
	}
	return data, nil
}

// ErrNotFound is a repository, revision or file that does not exist.
var ErrNotFound = errors.New("not found")
