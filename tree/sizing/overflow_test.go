package sizing_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"modelsync.dev/modelsync/tree/modelfiles"
	"modelsync.dev/modelsync/tree/sizing"
)

// Sizing's arithmetic cannot overflow: for random facts anywhere in the
// ranges the lock and config.json are checked against, and targets anywhere
// in the ranges of size's flags and a Model's fields, the estimate has no
// negative size, and a model said to fit has cache for one request of its
// maximum length.
func TestSizingStaysInRangeForEveryCheckedInput(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 37))
	pick := func(lo, hi int64) int64 {
		switch r.IntN(4) {
		case 0:
			return lo
		case 1:
			return hi
		}
		return lo + r.Int64N(hi-lo+1)
	}
	checked := 0
	for range 20000 {
		c := &modelfiles.Config{
			ModelType: "random", Layers: pick(1, 2048), Heads: pick(1, 2048), HeadDim: pick(1, 8192), HiddenSize: pick(1, 1<<18),
			MaxPositions: pick(1, modelfiles.MaxPositions), VocabSize: pick(0, 1<<24),
		}
		c.KVHeads = pick(1, c.Heads)
		if r.IntN(4) == 0 {
			c.KVLoraRank, c.QKRopeHeadDim = pick(1, 8192), pick(0, 8192)
		}
		weights := pick(1<<20, 1<<50)
		f := &modelfiles.Facts{Commit: strings.Repeat("a", 40), Config: c, WeightsBytes: weights,
			BytesByDType: map[string]int64{"BF16": weights}, Parameters: pick(1, 1<<50), Shards: int(pick(1, 100))}
		if err := f.Check(); err != nil {
			t.Fatalf("a generated fact is out of its own range: %v", err)
		}
		tg := sizing.Target{
			GPUMemory: pick(1<<30, 1<<40), Utilization: float64(pick(1, 100)) / 100, MaxModelLen: pick(0, modelfiles.MaxPositions),
			Shape: sizing.Shape{TP: pick(1, 64), PP: pick(1, 8)}, MaxNumSeqs: pick(0, 1<<20),
		}
		e, err := sizing.Estimated(f, tg)
		if err != nil {
			continue
		}
		checked++
		for name, v := range map[string]int64{"kvBytesPerToken": e.KVBytesPerToken, "weightsPerGPU": e.WeightsPerGPU, "overheadPerGPU": e.OverheadPerGPU,
			"budgetPerGPU": e.BudgetPerGPU, "kvCacheTokens": e.KVCacheTokens, "fitMaxModelLen": e.FitMaxModelLen} {
			if v < 0 {
				t.Fatalf("%s %d < 0 for %+v on %+v", name, v, *c, tg)
			}
		}
		if e.KVBytesPerToken == 0 {
			t.Fatalf("no KV bytes per token for %+v", *c)
		}
		if e.Fits && e.KVCacheTokens < e.MaxModelLen {
			t.Fatalf("fits with cache for %d tokens, below its max length %d: %+v on %+v", e.KVCacheTokens, e.MaxModelLen, *c, tg)
		}
	}
	if checked < 10000 {
		t.Errorf("only %d of 20000 inputs were sized", checked)
	}
}

// FuzzEstimated: any facts that pass Check, on any target in the flags'
// ranges, size without overflow (go test -fuzz FuzzEstimated ./sizing).
func FuzzEstimated(f *testing.F) {
	f.Add(int64(36), int64(32), int64(8), int64(128), int64(40960), int64(16381470720), int64(80<<30), uint8(90), int64(1), int64(0))
	f.Add(int64(2048), int64(2048), int64(2048), int64(8192), int64(1<<24), int64(1<<50), int64(1<<40), uint8(100), int64(64), int64(1<<24))
	f.Fuzz(func(t *testing.T, layers, heads, kvHeads, headDim, positions, weights, gpuMemory int64, util uint8, tp, maxLen int64) {
		c := &modelfiles.Config{ModelType: "fuzz", Layers: layers, Heads: heads, KVHeads: kvHeads, HeadDim: headDim, HiddenSize: 4096, MaxPositions: positions}
		facts := &modelfiles.Facts{Commit: strings.Repeat("a", 40), Config: c, WeightsBytes: weights, BytesByDType: map[string]int64{"BF16": weights}, Parameters: 1, Shards: 1}
		if facts.Check() != nil || gpuMemory < 1<<30 || gpuMemory > 1<<40 || util == 0 || util > 100 || tp < 1 || tp > 64 || maxLen < 0 || maxLen > modelfiles.MaxPositions {
			return // refused before sizing, by the lock or the flags
		}
		e, err := sizing.Estimated(facts, sizing.Target{GPUMemory: gpuMemory, Utilization: float64(util) / 100, MaxModelLen: maxLen, Shape: sizing.Shape{TP: tp, PP: 1}})
		if err != nil {
			return
		}
		if e.KVBytesPerToken <= 0 || e.KVCacheTokens < 0 || e.FitMaxModelLen < 0 || (e.Fits && e.KVCacheTokens < e.MaxModelLen) {
			t.Fatalf("%+v on %d GiB: %+v", *c, gpuMemory>>30, e)
		}
	})
}
