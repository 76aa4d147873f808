package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	"modelsync.dev/modelsync/tree/modelfiles"
	"modelsync.dev/modelsync/tree/sizing"
	"modelsync.dev/modelsync/tree/validation"
)

// filesFlag maps an upstream repository to a local copy of its files.
type filesFlag map[string]string

func (f filesFlag) source(repo, revision string) modelfiles.Source {
	if dir, ok := f[repo]; ok {
		return modelfiles.Dir{Path: dir, Revision: revision}
	}
	return modelfiles.NewHub(repo, revision)
}

func (f filesFlag) parse(values []string) error {
	for _, v := range values {
		repo, dir, ok := strings.Cut(v, "=")
		if !ok || repo == "" || dir == "" {
			return fmt.Errorf("--files %s: write ORG/NAME=DIR", v)
		}
		f[repo] = dir
	}
	return nil
}

type lockOptions struct {
	source sourceFlags
	files  []string
}

func newLockCommand() *cobra.Command {
	o := &lockOptions{}
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Read each Model's config.json and safetensors headers at its revision into modelsync.lock",
		Long: "lock resolves each Model's upstream@revision to a commit and reads config.json, the index and the\n" +
			"safetensors headers (HTTP range requests: no weights are downloaded) from the Hugging Face Hub\n" +
			"(HF_ENDPOINT, HF_TOKEN) or from --files copies, and writes what sizing needs to modelsync.lock at the\n" +
			"tree's root. Every other command reads the lock and never the network.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&o.files, "files", nil, "ORG/NAME=DIR: read that repository's files from a local copy (air-gapped clusters)")
	return cmd
}

type sizeOptions struct {
	source sourceFlags
	// repo is the one repository to size, ORG/NAME[@REVISION], else "".
	repo        string
	output      string
	gpus        int
	gpuMemory   string
	maxModelLen int64
	utilization float64
	image       string
	files       []string
}

// sized is one line of `modelsync size`.
type sized struct {
	Model   string `json:"model"`
	Variant string `json:"variant,omitempty"`
	sizing.Estimate
}

func newSizeCommand() *cobra.Command {
	o := &sizeOptions{output: "text"}
	cmd := &cobra.Command{
		Use:   "size [ORG/NAME[@REVISION]]",
		Short: "Print each Model's weights, KV cache and whether vLLM can start it; offline from modelsync.lock",
		Long: "size prints, per Model of the tree, the weights and parameters from its files, the KV bytes per token,\n" +
			"the per-GPU shares, the KV cache in tokens and vLLM's start-up verdict, from modelsync.lock.\n" +
			"With a repository it answers for that model alone, read from the Hub (or --files): the runbook's\n" +
			"\"Obtaining VRAM Requirements\" step, e.g. modelsync size Qwen/Qwen3-32B --gpus 2 --gpu-memory 80Gi.",
		Args: cobra.MaximumNArgs(1),
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "text or json")
	cmd.Flags().IntVar(&o.gpus, "gpus", 1, "with a repository: GPUs (tensor parallel)")
	cmd.Flags().StringVar(&o.gpuMemory, "gpu-memory", "80Gi", "with a repository: one GPU's memory (80Gi, 81559Mi)")
	cmd.Flags().Int64Var(&o.maxModelLen, "max-model-len", 0, "with a repository: --max-model-len (default: the model's context)")
	cmd.Flags().Float64Var(&o.utilization, "gpu-memory-utilization", 0.9, "with a repository: --gpu-memory-utilization")
	cmd.Flags().StringVar(&o.image, "image", "", "with a repository: the vLLM image, for the overhead estimate (default: the newest)")
	cmd.Flags().StringArrayVar(&o.files, "files", nil, "ORG/NAME=DIR: read that repository's files from a local copy")
	return cmd
}

func (o *sizeOptions) one(ctx context.Context, ref string) ([]sized, error) {
	files := filesFlag{}
	if err := files.parse(o.files); err != nil {
		return nil, err
	}
	repo, rev, _ := strings.Cut(ref, "@")
	mem, err := resource.ParseQuantity(o.gpuMemory)
	if err != nil {
		return nil, fmt.Errorf("--gpu-memory %s: %w", o.gpuMemory, err)
	}
	f, err := modelfiles.Read(ctx, files.source(repo, rev))
	if err != nil {
		return nil, err
	}
	e, err := sizing.Estimated(f, sizing.Target{GPUMemory: mem.Value(), Utilization: o.utilization, MaxModelLen: o.maxModelLen,
		Image: o.image, Shape: sizing.Shape{TP: int64(o.gpus), PP: 1}})
	if err != nil {
		return nil, err
	}
	return []sized{{Model: ref, Estimate: e}}, nil
}

func (o *sizeOptions) tree(ctx context.Context) ([]sized, error) {
	src, err := o.source.open(ctx)
	if err != nil {
		return nil, err
	}
	set, err := src.load(ctx, src.offlineNamespace(), clusterView{})
	if err != nil {
		return nil, err
	}
	lock, err := modelfiles.ReadLock(src.tree.FS, src.tree.Root)
	if err != nil {
		return nil, err
	}
	var lines []sized
	for i := range set.Models {
		m := &set.Models[i]
		if m.Spec.Server == nil || m.Spec.Revision == "" {
			continue
		}
		f := lock.Models[modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)]
		if f == nil {
			return nil, fmt.Errorf("Model %s: %s@%s is not in %s: run modelsync lock", m.Name(), m.Spec.Upstream, m.Spec.Revision, modelfiles.LockFile)
		}
		if !sizing.Sized(m) {
			continue
		}
		for _, v := range sizing.ForModel(m, f) {
			if v.Err != nil {
				v.Reason = v.Err.Error()
			}
			lines = append(lines, sized{Model: m.Name(), Variant: v.Variant, Estimate: v.Estimate})
		}
	}
	return lines, nil
}

func printSized(w io.Writer, lines []sized) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tWEIGHTS\tPARAMS\tKV/TOKEN\tWEIGHTS/GPU\tOVERHEAD/GPU\tKV/GPU\tKV TOKENS\tMAX LEN\tFITS")
	for _, l := range lines {
		name := l.Model
		if l.Variant != "" {
			name += "/" + l.Variant
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fB\t%d B\t%s\t%s\t%s\t%d\t%d\t%v\n", name, gib(l.WeightsBytes), float64(l.Parameters)/1e9, l.KVBytesPerToken,
			gib(l.WeightsPerGPU), gib(l.OverheadPerGPU), gib(max(0, l.AvailableKV)), l.KVCacheTokens, l.MaxModelLen, l.Fits)
	}
	tw.Flush()
	for _, l := range lines {
		if l.Reason != "" {
			fmt.Fprintf(w, "%s: %s\n", l.Model, l.Reason)
		}
	}
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/sizing.GiB) }

func (o *lockOptions) Validate() error {
	return filesFlag{}.parse(o.files)
}

func (o *lockOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	files := filesFlag{}
	if err := files.parse(o.files); err != nil {
		return err
	}
	src, err := o.source.open(ctx)
	if err != nil {
		return err
	}
	set, err := src.load(ctx, src.offlineNamespace(), clusterView{})
	if err != nil {
		return err
	}
	// The old lock is what a merge request may have forged: lock reads
	// every entry again from the model's files, whatever it held, and can
	// always write a lock that could not be read.
	old, err := modelfiles.ReadLock(src.tree.FS, src.tree.Root)
	if err != nil {
		fmt.Fprintf(errOut, "warning: the lock could not be read whole, so it is written anew: %v\n", err)
		if old == nil {
			old = &modelfiles.Lock{}
		}
	}
	lock := &modelfiles.Lock{Models: map[string]*modelfiles.Facts{}}
	var skipped []string
	for _, m := range set.Models {
		if m.Spec.Server == nil || m.Spec.Upstream == "" {
			continue
		}
		if m.Spec.Revision == "" {
			skipped = append(skipped, m.Name())
			continue
		}
		key := modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)
		if lock.Models[key] != nil {
			continue
		}
		f, err := modelfiles.Read(ctx, files.source(m.Spec.Upstream, m.Spec.Revision))
		if err != nil {
			return fmt.Errorf("Model %s: %w", m.Name(), err)
		}
		lock.Models[key] = f
		fmt.Fprintf(out, "%s: commit %s, %d shard(s), %s of weights\n", key, f.Commit, f.Shards, gib(f.WeightsBytes))
		if was := old.Models[key]; was != nil && !equality.Semantic.DeepEqual(was, f) {
			fmt.Fprintf(errOut, "warning: %s: the lock's entry did not match the model's files; it is replaced\n", key)
		}
	}
	data, err := lock.Marshal()
	if err != nil {
		return err
	}
	path := filepath.Join(o.source.path, modelfiles.LockFile)
	if err := writeRegularFile(path, data); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d model(s)\n", path, len(lock.Models))
	// The lock is what validate asks for, so lock reads a tree validate
	// refuses; but a Model that could not be read is not in it: say why.
	var broken []validation.Diagnostic
	for _, d := range set.Diagnostics {
		if d.Severity == validation.Error && d.Rule != validation.RuleModelLock {
			broken = append(broken, d)
		}
	}
	if len(broken) > 0 {
		printDiagnostics(errOut, broken)
		fmt.Fprintf(errOut, "warning: the tree has %d error(s) (above); a Model that could not be read is not in the lock: fix it and run lock again\n", len(broken))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(out, "skipped %d served Model(s) without spec.revision: %s; pin each to a commit (revision: <40-digit commit, or a branch or tag lock resolves>) to size it from its files\n",
			len(skipped), strings.Join(skipped, ", "))
	}
	return nil
}

// writeRegularFile replaces path with a regular file holding data: written
// beside it and renamed over it, so that a link committed at path is
// replaced, never followed out of the tree.
func writeRegularFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func (o *sizeOptions) Validate() error {
	if err := oneOf("-o", o.output, "text", "json"); err != nil {
		return err
	}
	if o.gpus < 1 || o.gpus > 64 {
		return fmt.Errorf("--gpus %d: out of range [1, 64] (GPUs per pod)", o.gpus)
	}
	if math.IsNaN(o.utilization) || o.utilization <= 0 || o.utilization > 1 {
		return fmt.Errorf("--gpu-memory-utilization %v: out of range (0, 1] (the fraction of GPU memory vLLM may use)", o.utilization)
	}
	if o.maxModelLen < 0 || o.maxModelLen > modelfiles.MaxPositions {
		return fmt.Errorf("--max-model-len %d: out of range [1, %d] (0: the model's context)", o.maxModelLen, modelfiles.MaxPositions)
	}
	mem, err := resource.ParseQuantity(o.gpuMemory)
	if err != nil {
		return fmt.Errorf("--gpu-memory %s: %w", o.gpuMemory, err)
	}
	if mem.Cmp(resource.MustParse("1Gi")) < 0 || mem.Cmp(resource.MustParse("1Ti")) > 0 {
		return fmt.Errorf("--gpu-memory %s: out of range [1Gi, 1Ti] (one GPU's memory)", o.gpuMemory)
	}
	return filesFlag{}.parse(o.files)
}

func (o *sizeOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	var lines []sized
	var err error
	if o.repo != "" {
		lines, err = o.one(ctx, o.repo)
	} else {
		lines, err = o.tree(ctx)
	}
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(lines); err != nil {
			return err
		}
	} else {
		printSized(out, lines)
	}
	for _, l := range lines {
		if !l.Fits {
			return exitCode(exitChanges)
		}
	}
	return nil
}

func (o *sizeOptions) setArgs(args []string) {
	if len(args) == 1 {
		o.repo = args[0]
	}
}
