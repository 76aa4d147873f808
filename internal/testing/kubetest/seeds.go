package kubetest

import (
	"os"
	"strconv"
	"strings"
)

// Schedule is a soak's seeds and steps from the environment, prefix naming
// the variables: <prefix>_SEEDS (how many seeds, 1..n; default seeds),
// <prefix>_SEED (one seed, to replay it) and <prefix>_STEPS (default steps).
func Schedule(prefix string, seeds, steps int) ([]uint64, int) {
	if n, err := strconv.Atoi(os.Getenv(prefix + "_SEEDS")); err == nil {
		seeds = n
	}
	out := make([]uint64, seeds)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	if s, err := strconv.ParseUint(os.Getenv(prefix+"_SEED"), 10, 64); err == nil {
		out = []uint64{s}
	}
	if n, err := strconv.Atoi(os.Getenv(prefix + "_STEPS")); err == nil {
		steps = n
	}
	return out, steps
}

// FirstLine is err's first line, cut at 160 characters, as a soak's
// schedule logs it; "ok" for nil.
func FirstLine(err error) string {
	if err == nil {
		return "ok"
	}
	l, _, _ := strings.Cut(err.Error(), "\n")
	if len(l) > 160 {
		l = l[:160] + "…"
	}
	return l
}
