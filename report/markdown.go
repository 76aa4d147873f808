package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/report/markdown"
)

// MaxMarkdownBytes keeps an MR note well under GitLab's 1,000,000-character
// limit; diffs beyond it are cut with a pointer to the plan artifact.
const MaxMarkdownBytes = 200 << 10

// MarkdownOptions configures WriteMarkdown.
type MarkdownOptions struct {
	// ArtifactURL points at the full plan when diffs are cut.
	ArtifactURL string
	// Marker is a hidden line that finds the note again (the MR note is sticky).
	Marker string
}

// WriteMarkdown writes the plan as a merge request note. Text from the tree and
// the cluster appears only inside code spans, fences and table cells.
func WriteMarkdown(w io.Writer, p *diff.Plan, opts MarkdownOptions) error {
	var head, body strings.Builder
	if opts.Marker != "" {
		fmt.Fprintf(&head, "<!-- %s -->\n", opts.Marker)
	}
	fmt.Fprintf(&head, "### modelsync plan: %s\n\n", markdown.Code(target(p)))
	n := p.Counts()
	fmt.Fprintf(&head, "| create | update | prune | prune-item | unchanged |\n|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d |\n\n",
		n[diff.Create], n[diff.Update]+n[diff.Conflict], n[diff.Prune], n[diff.PruneItem], n[diff.Unchanged])
	head.WriteString(modelsMarkdown(p))
	if p.Verified > 0 {
		fmt.Fprintf(&head, "%d unchanged objects are as the last sync recorded them and were not dry-run; the scheduled `diff --full` dry-runs every object.\n\n", p.Verified)
	}
	if removals := p.Removals(); len(removals) > 0 {
		if slices.ContainsFunc(removals, func(c diff.Change) bool { return c.Action == diff.Recreate }) {
			head.WriteString("> [!warning]\n> **Pending approval.** `sync` leaves these; the manual `prune` job carries them out after approval (a recreate takes its model down while it restarts):\n")
		} else {
			head.WriteString("> [!warning]\n> **Pending removals.** `sync` keeps these; the manual `prune` job deletes them after approval:\n")
		}
		for _, c := range removals {
			fmt.Fprintf(&head, "> - %s %s", c.Action, markdown.Code(subject(c)))
			if claims := claimNames(c); claims != "" {
				fmt.Fprintf(&head, " (claims %s: kept; deleted only by `prune --delete-pvcs`)", markdown.Code(claims))
			}
			head.WriteString("\n")
		}
		head.WriteString("\n")
	}
	if n[diff.Error]+n[diff.Conflict]+n[diff.Adopt] > 0 {
		head.WriteString("> [!caution]\n> **Needs attention** (refused objects, fields owned by other managers, objects to adopt): see the table.\n\n")
	}
	if drift := driftCount(p); drift > 0 {
		fmt.Fprintf(&head, "> [!note]\n> %d change(s) marked *drift* are pending on the cluster at the baseline %s already: they do not come from this merge request.\n\n", drift, markdown.Code(short(p.Baseline)))
	}
	rows := false
	for _, c := range p.Changes {
		if c.Action == diff.Unchanged {
			continue
		}
		if !rows {
			head.WriteString("| action | object | model | source |\n|---|---|---|---|\n")
			rows = true
		}
		action := string(c.Action)
		if c.Drift {
			action += " *(drift)*"
		}
		fmt.Fprintf(&head, "| %s | %s | %s | %s |\n", action, markdown.Cell(subject(c)), markdown.Cell(c.Model), markdown.Cell(c.Origin))
	}
	if rows {
		head.WriteString("\n")
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(&head, "- warning: %s\n", markdown.Code(warn))
	}
	if head.Len() > MaxMarkdownBytes-1024 {
		return writeMarkdownSummary(w, p, opts)
	}
	body.WriteString(markdownDetails(p, MaxMarkdownBytes-head.Len()-2048, opts))
	_, err := io.WriteString(w, head.String()+"\n"+body.String())
	return err
}

// reviewOrder is the order the note shows diffs in, and keeps them when it
// must cut: what a reviewer most needs first (entries removed from shared
// objects, replacements, changes to what runs), new objects last.
var reviewOrder = map[diff.Action]int{diff.PruneItem: 0, diff.Replace: 1, diff.Recreate: 1, diff.Update: 2, diff.Conflict: 2, diff.Resize: 2, diff.Prune: 3, diff.Error: 4, diff.Adopt: 4, diff.Terminating: 5, diff.Held: 5, diff.Create: 6}

// markdownDetails writes the diffs grouped under their Model, each group
// collapsed, the groups and their diffs in review order, within budget
// bytes; a diff that does not fit is left out and the note lists what was
// left out.
func markdownDetails(p *diff.Plan, budget int, opts MarkdownOptions) string {
	var body strings.Builder
	left := map[string]int{} // "action Kind" → count
	var leftNames []string
	const wrap = len("<details><summary></summary>\n\n</details>\n\n") + 64
	for _, g := range reviewGroups(p) {
		var inner strings.Builder
		n := 0
		for _, c := range g.Items {
			if (c.Diff == "" && c.Message == "") || c.Action == diff.Unchanged {
				continue
			}
			detail := fmt.Sprintf("**%s** %s\n\n%s%s\n", c.Action, markdown.Code(subject(c)), messageBlock(c), markdown.Fence(c.Diff, diffLang(c.Diff)))
			if body.Len()+inner.Len()+len(detail)+len(g.Title())+wrap > budget {
				left[string(c.Action)+" "+c.Kind]++
				leftNames = append(leftNames, string(c.Action)+" "+subject(c))
				continue
			}
			inner.WriteString(detail)
			n++
		}
		if n > 0 {
			fmt.Fprintf(&body, "<details><summary>%s: %d diff(s)</summary>\n\n%s</details>\n\n", markdown.HTMLCode(g.Title()), n, inner.String())
		}
	}
	if len(leftNames) == 0 {
		return body.String()
	}
	var counts []string
	for _, k := range slices.Sorted(maps.Keys(left)) {
		counts = append(counts, fmt.Sprintf("%d %s", left[k], k))
	}
	fmt.Fprintf(&body, "**%d diffs left out** to keep this note under %d KB (entries removed from shared objects, replacements and updates are shown first): %s. ",
		len(leftNames), MaxMarkdownBytes>>10, strings.Join(counts, ", "))
	body.WriteString("The full plan is in the job's plan artifact")
	if opts.ArtifactURL != "" {
		fmt.Fprintf(&body, " (%s)", opts.ArtifactURL)
	}
	body.WriteString(".\n")
	const named = 20
	if len(leftNames) <= named {
		fmt.Fprintf(&body, "Left out: %s.\n", markdown.Code(strings.Join(leftNames, ", ")))
	} else {
		fmt.Fprintf(&body, "Left out, first %d: %s, and %d more.\n", named, markdown.Code(strings.Join(leftNames[:named], ", ")), len(leftNames)-named)
	}
	return body.String()
}

// writeMarkdownSummary is the note of a plan too large to list: the counts
// and a pointer to the artifact.
func writeMarkdownSummary(w io.Writer, p *diff.Plan, opts MarkdownOptions) error {
	var b strings.Builder
	if opts.Marker != "" {
		fmt.Fprintf(&b, "<!-- %s -->\n", opts.Marker)
	}
	fmt.Fprintf(&b, "### modelsync plan: %s\n\n", markdown.Code(target(p)))
	r := p.Report()
	fmt.Fprintf(&b, "| create | update (objects and entries) | delete | unchanged |\n|---:|---:|---:|---:|\n| %d | %d | %d | %d |\n\n",
		r.Create, r.Update, r.Delete, p.Counts()[diff.Unchanged])
	fmt.Fprintf(&b, "This plan is too large for a note (over %d KB): the full plan is in the job's plan artifact", MaxMarkdownBytes>>10)
	if opts.ArtifactURL != "" {
		fmt.Fprintf(&b, " (%s)", opts.ArtifactURL)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func driftCount(p *diff.Plan) int {
	n := 0
	for _, c := range p.Changes {
		if c.Drift {
			n++
		}
	}
	return n
}

func messageBlock(c diff.Change) string {
	var lines []string
	if c.Message != "" {
		lines = append(lines, c.Message)
	}
	lines = append(lines, c.Conflicts...)
	lines = append(lines, c.Owners...)
	for _, a := range c.Added {
		lines = append(lines, "+ "+a)
	}
	if len(lines) == 0 {
		return ""
	}
	return markdown.Fence(strings.Join(lines, "\n"), "")
}

// diffLang is the fence's info string: diff for a unified diff.
func diffLang(s string) string {
	if strings.HasPrefix(s, "--- ") {
		return "diff"
	}
	return ""
}
