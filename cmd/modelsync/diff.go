package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"modelsync.dev/modelsync/report"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/report/markdown"
	"modelsync.dev/modelsync/report/mrnote"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/validation"
)

// planFlags say how a plan is made: shared by diff and sync.
type planFlags struct {
	full         bool
	keep         []string
	capacityFrom string
}

// options are the differ's options the flags ask for.
func (f planFlags) options() diff.Options {
	opts := diff.DefaultOptions()
	opts.Full, opts.KeepManagers, opts.CapacitySnapshot = f.full, f.keep, f.capacityFrom
	return opts
}

func (f *planFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.full, "full", false, "dry-run every object, also those still as the last sync recorded them: sees changes on the server's side (a CRD's new default or rule)")
	fs.StringVar(&f.capacityFrom, "capacity-from", "", "NAMESPACE/NAME: read the cluster's capacity from the snapshot `modelsync capacity publish` keeps in that ConfigMap, instead of listing every namespace's pods")
	fs.StringSliceVar(&f.keep, "keep-fields-of", diff.DefaultKeepManagers, "a kubectl field manager (kubectl-edit, kubectl-patch, …) whose fields added by hand are meant to stay: not drift, left by sync (per object: annotation modelsync.dev/co-owners)")
}

type diffOptions struct {
	source          sourceFlags
	cluster         clusterFlags
	plan            planFlags
	output          string
	planOut         string
	markdownOut     string
	reportOut       string
	dotenvOut       string
	baseline        string
	gitlabNote      bool
	requireCapacity bool
	tokenEnv        string
}

func newDiffCommand() *cobra.Command {
	o := &diffOptions{output: "text", tokenEnv: mrnote.DefaultTokenVariable}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what a sync and an approved prune would change; exit 0 no changes, 1 changes, >1 error",
		Long: "diff dry-runs the desired objects against the API server (server-side apply, dryRun=All)\n" +
			"and compares the prediction with the live objects of the inventory. It never writes to the cluster.\n" +
			"An object still exactly as the last sync left it (same configuration, content, owners and uid)\n" +
			"is unchanged without a dry run; --full dry-runs every object.\n" +
			"In a merge request pipeline, --gitlab-note keeps one note per target on the merge request up to date.",
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.source.register(cmd.Flags())
	o.cluster.register(cmd.Flags())
	o.plan.register(cmd.Flags())
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", o.output, "text, markdown (a merge request note) or json (the plan the prune job reads)")
	f.StringVar(&o.planOut, "plan-out", "", "also write the JSON plan to this file (the prune job's input)")
	f.StringVar(&o.markdownOut, "markdown-out", "", "also write the merge request note to this file")
	f.StringVar(&o.reportOut, "report-out", "", `also write {"create":N,"update":M,"delete":K} for GitLab's artifacts:reports:terraform`)
	f.StringVar(&o.dotenvOut, "dotenv-out", "", "also write the counts as MODELSYNC_CREATE, _UPDATE, _DELETE and _REMOVALS (prunes and removed entries) for a job script or artifacts:reports:dotenv")
	f.StringVar(&o.baseline, "baseline", "", "mark as drift the changes this git revision's tree has too (the merge request's target)")
	f.BoolVar(&o.requireCapacity, "require-capacity", false, "exit 2 when a model the plan creates or changes cannot be placed on the cluster now, or capacity could not be checked (default: a warning)")
	f.BoolVar(&o.gitlabNote, "gitlab-note", false, "create or update this target's note on the merge request (CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID)")
	f.StringVar(&o.tokenEnv, "gitlab-token-env", o.tokenEnv, "the variable holding a project access token with the api scope, for --gitlab-note")
	return cmd
}

func (o *diffOptions) Validate() error {
	return oneOf("-o", o.output, "text", "markdown", "json")
}

func (o *diffOptions) Run(ctx context.Context, stdout, stderr io.Writer) error {
	var target mrnote.Target
	if o.gitlabNote {
		var err error
		if target, err = mrnote.TargetFromEnv(os.Getenv, o.tokenEnv); err != nil {
			return err
		}
	}
	t, err := connectTarget(ctx, &o.source, &o.cluster)
	if err != nil {
		return err
	}
	ns := t.ns
	md := report.MarkdownOptions{Marker: o.marker(ns), ArtifactURL: artifactURL(o.planOut)}
	plan, err := o.planAgainstBaseline(ctx, t, stderr)
	if err != nil {
		// The note never keeps showing a plan that no longer holds: it
		// says why there is none.
		if o.gitlabNote {
			if nerr := o.upsertNote(ctx, target, md.Marker, failureNote(md.Marker, ns, err), stderr); nerr != nil {
				return fmt.Errorf("%w; and the note could not say so: %v", err, nerr)
			}
		}
		return err
	}
	files := []struct {
		path  string
		write func(io.Writer) error
	}{
		{o.planOut, plan.WriteJSON},
		{o.markdownOut, func(w io.Writer) error { return report.WriteMarkdown(w, plan, md) }},
		{o.reportOut, func(w io.Writer) error { return json.NewEncoder(w).Encode(plan.Report()) }},
		{o.dotenvOut, func(w io.Writer) error { return report.WriteDotenv(w, plan) }},
	}
	for _, f := range files {
		if err := writeFile(f.path, f.write); err != nil {
			return err
		}
	}
	if err := writePlan(stdout, plan, o.output); err != nil {
		return err
	}
	if o.gitlabNote {
		var body strings.Builder
		if err := report.WriteMarkdown(&body, plan, md); err != nil {
			return err
		}
		if err := o.upsertNote(ctx, target, md.Marker, body.String(), stderr); err != nil {
			return fmt.Errorf("%w (the plan files were written)", err)
		}
	}
	switch {
	case plan.HasErrors():
		return fmt.Errorf("the API server refused %d object(s); see the plan", plan.Counts()[diff.Error])
	case o.requireCapacity:
		if err := capacityRequired(plan); err != nil {
			return err
		}
		if plan.HasChanges() {
			return exitCode(exitChanges)
		}
	case plan.HasChanges():
		return exitCode(exitChanges)
	}
	return nil
}

// capacityRequired fails a plan whose new or changed models cannot be
// placed now, or whose capacity was not checked.
func capacityRequired(plan *diff.Plan) error {
	var cannot []string
	for _, m := range plan.Models {
		if m.Change == diff.ModelRemoved {
			continue
		}
		if m.Fits != nil && !*m.Fits {
			cannot = append(cannot, m.Name)
		}
	}
	if len(cannot) > 0 {
		return fmt.Errorf("--require-capacity: %s cannot be placed on the cluster now (see the plan's warnings)", strings.Join(cannot, ", "))
	}
	if plan.CapacityUnchecked != "" {
		return fmt.Errorf("--require-capacity: capacity not checked: %s", plan.CapacityUnchecked)
	}
	return nil
}

func (o *diffOptions) upsertNote(ctx context.Context, target mrnote.Target, marker, body string, stderr io.Writer) error {
	res, err := mrnote.Upsert(ctx, target, marker, body, mrnote.DefaultOptions())
	if err != nil {
		return err
	}
	if res.Head != "" {
		fmt.Fprintf(stderr, "left the note on merge request !%d alone: this plan is of commit %s, but the merge request's head is %s (the head's pipeline writes the note)\n",
			target.MergeRequest, short(target.Commit), short(res.Head))
		return nil
	}
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	fmt.Fprintf(stderr, "%s note %d on merge request !%d\n", verb, res.NoteID, target.MergeRequest)
	for _, n := range res.Ignored {
		fmt.Fprintf(stderr, "ignored note %d by @%s: it carries modelsync's marker, but only notes of the token's own user are modelsync's\n", n.ID, n.Author)
	}
	return nil
}

// failureNote is the note of a pipeline that could not plan: the tree's
// problems, or the error that stopped the plan.
func failureNote(marker, ns string, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n### modelsync plan: %s: no plan\n\n", marker, markdown.Code(ns))
	var te *treeErrors
	if errors.As(err, &te) {
		var problems strings.Builder
		printDiagnostics(&problems, te.diagnostics)
		b.WriteString("The tree has errors, so nothing can be planned. Fix them and push again:\n\n")
		b.WriteString(markdown.Fence(strings.TrimSuffix(problems.String(), "\n"), ""))
	} else {
		b.WriteString("The plan could not be made, so the previous plan no longer holds:\n\n")
		b.WriteString(markdown.Fence(err.Error(), ""))
	}
	if u := os.Getenv("CI_JOB_URL"); u != "" {
		fmt.Fprintf(&b, "\n[job log](%s)\n", u)
	}
	return b.String()
}

// treeErrors: the tree failed validation; the diagnostics say where.
type treeErrors struct{ diagnostics []validation.Diagnostic }

func (e *treeErrors) Error() string {
	return "the tree has errors; fix them (modelsync validate lists them) before a plan can be made"
}

// marker finds this target's note again: one note per namespace, inventory
// and kubeconfig context.
func (o *diffOptions) marker(ns string) string {
	m := fmt.Sprintf("modelsync-plan namespace=%s inventory=%s", ns, o.cluster.inventory)
	if o.cluster.context != "" {
		m += " context=" + o.cluster.context
	}
	return m
}

// artifactURL points at the plan artifact of this CI job, when there is one.
func artifactURL(planOut string) string {
	job := os.Getenv("CI_JOB_URL")
	if job == "" || planOut == "" || filepath.IsAbs(planOut) {
		return ""
	}
	return job + "/artifacts/file/" + filepath.ToSlash(filepath.Clean(planOut))
}

// planAgainstBaseline computes the plan, marked against --baseline when
// given.
func (o *diffOptions) planAgainstBaseline(ctx context.Context, t *target, stderr io.Writer) (*diff.Plan, error) {
	p, err := t.plan(ctx, o.plan.options(), stderr)
	if err != nil {
		return nil, err
	}
	if o.baseline == "" {
		return p.res.Plan, nil
	}
	src, err := o.source.at(o.baseline).open(ctx)
	if err != nil {
		return nil, fmt.Errorf("--baseline %s: %w", o.baseline, err)
	}
	base := *t
	base.source = src
	b, err := base.plan(ctx, o.plan.options(), stderr)
	if err != nil {
		return nil, fmt.Errorf("--baseline %s: %w", o.baseline, err)
	}
	p.res.Plan.MarkDrift(b.res.Plan)
	return p.res.Plan, nil
}

// planned is a computed plan with what made it, for the commands that act on it.
type planned struct {
	set     *desired.Set
	manager *sync.Manager
	res     *diff.Result
}

// plan loads the tree and plans it against the target; what the plan reads
// whatever the tree holds is read while the tree loads.
func (t *target) plan(ctx context.Context, opts diff.Options, stderr io.Writer) (*planned, error) {
	m := t.manager()
	d := m.Differ(opts)
	d.Start(ctx)
	defer d.Stop()
	set, err := t.source.load(ctx, t.ns, clusterView{served: servedBy(t.clients)})
	if err != nil {
		return nil, err
	}
	if set.HasErrors() {
		printDiagnostics(stderr, set.Diagnostics)
		return nil, &treeErrors{set.Diagnostics}
	}
	res, err := d.Plan(ctx, set)
	collect()
	if err != nil {
		return nil, err
	}
	if !t.takeOver {
		if err := sync.OwnTree(res.Parent, t.source.tree.ID); err != nil {
			return nil, err
		}
	}
	return &planned{set: set, manager: m, res: res}, nil
}

func writePlan(w io.Writer, p *diff.Plan, format string) error {
	switch format {
	case "json":
		return p.WriteJSON(w)
	case "markdown":
		return report.WriteMarkdown(w, p, report.MarkdownOptions{})
	}
	if displayFor(w).color {
		c := &colorLines{w: w}
		if err := report.WriteText(c, p); err != nil {
			return err
		}
		return c.Flush()
	}
	return report.WriteText(w, p)
}

// writeFile writes one output file; an empty path writes nothing.
func writeFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// short is a commit as people read it.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
