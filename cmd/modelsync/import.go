package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/tree/importer"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/modelfiles"
)

type importOptions struct {
	cluster   clusterFlags
	namespace string
	from      string
	out       string
	force     bool
	readFiles bool
	files     []string
}

func newImportCommand() *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write a models-config tree from a live namespace (or a directory of raw YAML): Models where exact, raw files for the rest",
		Long: "import reads every object of the namespace (or the files under --from) and writes a models-config tree to --out.\n" +
			"A vLLM or SGLang StatefulSet with its Service, Backend, AIServiceBackend, route rule and API key targetRef\n" +
			"becomes a Model file when the Model generates those objects exactly: each generated object is compared with\n" +
			"the live one through a server-side dry-run (offline: with the file), and a Model that would change anything\n" +
			"is not written; its objects stay raw and the reason is printed. Then `modelsync sync --adopt` takes the\n" +
			"namespace over without touching a pod template or a claim. Secrets are never written.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.cluster.register(cmd.Flags())
	namespaceFlag(cmd.Flags(), &o.namespace)
	cmd.Flags().StringVar(&o.from, "from", "", "read the objects from this directory of YAML instead of the cluster")
	cmd.Flags().StringVar(&o.out, "out", "./models-config", "the directory to write the tree to; it must be empty or absent")
	cmd.Flags().BoolVar(&o.force, "force", false, "write into --out even when it holds files (same names are overwritten)")
	cmd.Flags().BoolVar(&o.readFiles, "read-files", false, "size each Model from its files (config.json, safetensors headers) on the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN) instead of estimating from the claim; a pinned --revision goes into modelsync.lock")
	cmd.Flags().StringArrayVar(&o.files, "files", nil, "ORG/NAME=DIR: read that repository's files from a local copy (implies --read-files)")
	return cmd
}

func (o *importOptions) Validate() error {
	if o.from != "" && (o.cluster.kubeconfig != "" || o.cluster.context != "") {
		return fmt.Errorf("--from reads files, --kubeconfig and --context a cluster: give one source")
	}
	return filesFlag{}.parse(o.files)
}

func (o *importOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	if !o.force {
		if entries, err := os.ReadDir(o.out); err == nil && len(entries) > 0 {
			return fmt.Errorf("%s is not empty; choose another --out, or pass --force to write into it", o.out)
		}
	}
	objs, ns, applied, err := o.source(ctx)
	if err != nil {
		return err
	}
	opts := importer.Options{Applied: applied}
	if o.readFiles || len(o.files) > 0 {
		files := filesFlag{}
		if err := files.parse(o.files); err != nil {
			return err
		}
		opts.Facts = func(ctx context.Context, repo, revision string) (*modelfiles.Facts, error) {
			return modelfiles.Read(ctx, files.source(repo, revision))
		}
	}
	res, err := importer.Import(ctx, objs, ns, opts)
	if err != nil {
		return err
	}
	if len(res.Lock.Models) > 0 {
		data, err := res.Lock.Marshal()
		if err != nil {
			return err
		}
		res.Files = append(res.Files, importer.File{Path: modelfiles.LockFile, Data: data})
	}
	for _, f := range res.Files {
		p := filepath.Join(o.out, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintln(errOut, "note:", n)
	}
	fmt.Fprintf(out, "imported namespace %s into %s: %d Model(s) %v, %d raw object(s)\n", ns, o.out, len(res.Models), res.Models, res.Raw)
	return nil
}

// source reads the objects: the files under --from, else the namespace's
// objects of every kind that can be listed and patched.
func (o *importOptions) source(ctx context.Context) ([]*unstructured.Unstructured, string, importer.Applied, error) {
	if o.from != "" {
		dir := manifest.Dir(o.from)
		loaded, err := manifest.Load(ctx, dir)
		if err != nil {
			return nil, "", nil, err
		}
		ns := o.namespace
		var objs []*unstructured.Unstructured
		for _, l := range loaded {
			if ns == "" {
				ns = l.GetNamespace()
			}
			if l.GetNamespace() == "" || l.GetNamespace() == ns {
				objs = append(objs, l.Unstructured)
			}
		}
		if ns == "" {
			return nil, "", nil, fmt.Errorf("the files under %s name no namespace; pass -n", o.from)
		}
		return objs, ns, importer.Offline, nil
	}
	clients, ns, err := o.cluster.connect(o.namespace)
	if err != nil {
		return nil, "", nil, err
	}
	objs, err := liveObjects(ctx, clients.Reader(), ns)
	return objs, ns, dryRunCreate(clients.Reader()), err
}

func liveObjects(ctx context.Context, r cluster.Reader, ns string) ([]*unstructured.Unstructured, error) {
	kinds, err := r.ServedKinds()
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, k := range kinds {
		if !k.Namespaced || !k.Listable {
			continue
		}
		items, err := r.List(ctx, k.GroupVersionKind, ns, "")
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", k.Kind, ns, err)
		}
		for i := range items {
			objs = append(objs, &items[i])
		}
	}
	return objs, nil
}

// dryRunCreate compares a generated object through the API server: created
// under a scratch name in a dry-run, it carries the defaults the live object
// has, and nothing of the live object.
func dryRunCreate(r cluster.Reader) importer.Applied {
	return func(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		c := u.DeepCopy()
		c.SetName(scratchName(u.GetName()))
		return r.DryRunCreate(ctx, c)
	}
}

// scratchName is a name no object has, as short as a Service name must be.
func scratchName(name string) string {
	const suffix = "-import"
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	return name + suffix
}
