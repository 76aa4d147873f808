package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"modelsync.dev/modelsync/markdown"
)

// MaxMarkdownBytes keeps an MR note well under GitLab's 1,000,000-character
// limit; diffs beyond it are cut with a pointer to the plan artifact.
const MaxMarkdownBytes = 200 << 10

// WriteJSON writes the plan as the prune job reads it.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// ReadJSON reads a plan written by WriteJSON.
func ReadJSON(r io.Reader) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return &p, nil
}

func (c Change) subject() string {
	s := c.Kind + " " + c.Name
	if c.Item != nil {
		s = fmt.Sprintf("%s %s removed from %s", c.Item.Noun, c.Item.Key, s)
	}
	return s
}

// claimNames lists the claims a prune of c would keep, or delete with
// --delete-pvcs.
func (c Change) claimNames() string {
	var names []string
	for _, cl := range c.Claims {
		names = append(names, cl.Name)
	}
	return strings.Join(names, ", ")
}

func (p *Plan) summary() string {
	n := p.Counts()
	s := fmt.Sprintf("%d to create, %d to update, %d to prune, %d entries to remove, %d unchanged",
		n[Create], n[Update]+n[Conflict], n[Prune], n[PruneItem], n[Unchanged])
	if p.Verified > 0 {
		s += fmt.Sprintf(" (%d as the last sync recorded them, not dry-run)", p.Verified)
	}
	if n[Adopt] > 0 {
		s += fmt.Sprintf(", %d to adopt", n[Adopt])
	}
	if n[Replace] > 0 {
		s += fmt.Sprintf(", %d to replace (after approval)", n[Replace])
	}
	if n[Recreate] > 0 {
		s += fmt.Sprintf(", %d to restart with downtime (after approval)", n[Recreate])
	}
	if n[Resize] > 0 {
		s += fmt.Sprintf(", %d claims to resize", n[Resize])
	}
	if n[Error] > 0 {
		s += fmt.Sprintf(", %d refused", n[Error])
	}
	return s
}

func (p *Plan) target() string {
	rev := short(p.Revision)
	if rev == "" {
		rev = "work tree"
	}
	if p.Dirty {
		rev += " + uncommitted changes"
	}
	return fmt.Sprintf("namespace %s at %s", p.Namespace, rev)
}

// WriteText writes the plan for a terminal or CI log.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for %s: %s\n", p.target(), p.summary())
	b.WriteString(p.modelsText())
	groups := p.groups()
	for _, g := range groups {
		if len(p.Models) > 0 {
			fmt.Fprintf(&b, "%s:\n", g.Title())
		}
		for _, c := range g.Items {
			writeChangeText(&b, c)
		}
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeChangeText writes one change of a text plan.
func writeChangeText(b *strings.Builder, c Change) {
	fmt.Fprintf(b, "%-10s %s", c.Action, c.subject())
	if c.Drift {
		b.WriteString(" [drift: pending at the baseline already]")
	}
	if c.Origin != "" {
		fmt.Fprintf(b, "  (%s)", c.Origin)
	}
	b.WriteString("\n")
	if c.Message != "" {
		fmt.Fprintf(b, "           %s\n", c.Message)
	}
	for _, m := range append(c.Conflicts, c.Owners...) {
		fmt.Fprintf(b, "           manager: %s\n", m)
	}
	for _, a := range c.Added {
		fmt.Fprintf(b, "           + %s\n", a)
	}
	if claims := c.claimNames(); claims != "" {
		fmt.Fprintf(b, "           claims: %s (kept; deleted only by prune --delete-pvcs)\n", claims)
	}
	if c.Diff != "" && c.Action != Create {
		for _, l := range strings.Split(c.Diff, "\n") {
			fmt.Fprintf(b, "    %s\n", l)
		}
	}
}

// MarkdownOptions configures WriteMarkdown.
type MarkdownOptions struct {
	// ArtifactURL points at the full plan when diffs are cut.
	ArtifactURL string
	// Marker is a hidden line that finds the note again (the MR note is sticky).
	Marker string
}

// WriteMarkdown writes the plan as a merge request note. Text from the tree and
// the cluster appears only inside code spans, fences and table cells.
func (p *Plan) WriteMarkdown(w io.Writer, opts MarkdownOptions) error {
	var head, body strings.Builder
	if opts.Marker != "" {
		fmt.Fprintf(&head, "<!-- %s -->\n", opts.Marker)
	}
	fmt.Fprintf(&head, "### modelsync plan: %s\n\n", markdown.Code(p.target()))
	n := p.Counts()
	fmt.Fprintf(&head, "| create | update | prune | prune-item | unchanged |\n|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d |\n\n",
		n[Create], n[Update]+n[Conflict], n[Prune], n[PruneItem], n[Unchanged])
	head.WriteString(p.modelsMarkdown())
	if p.Verified > 0 {
		fmt.Fprintf(&head, "%d unchanged objects are as the last sync recorded them and were not dry-run; the scheduled `diff --full` dry-runs every object.\n\n", p.Verified)
	}
	if removals := p.Removals(); len(removals) > 0 {
		if slices.ContainsFunc(removals, func(c Change) bool { return c.Action == Recreate }) {
			head.WriteString("> [!warning]\n> **Pending approval.** `sync` leaves these; the manual `prune` job carries them out after approval (a recreate takes its model down while it restarts):\n")
		} else {
			head.WriteString("> [!warning]\n> **Pending removals.** `sync` keeps these; the manual `prune` job deletes them after approval:\n")
		}
		for _, c := range removals {
			fmt.Fprintf(&head, "> - %s %s", c.Action, markdown.Code(c.subject()))
			if claims := c.claimNames(); claims != "" {
				fmt.Fprintf(&head, " (claims %s: kept; deleted only by `prune --delete-pvcs`)", markdown.Code(claims))
			}
			head.WriteString("\n")
		}
		head.WriteString("\n")
	}
	if n[Error]+n[Conflict]+n[Adopt] > 0 {
		head.WriteString("> [!caution]\n> **Needs attention** (refused objects, fields owned by other managers, objects to adopt): see the table.\n\n")
	}
	if drift := p.driftCount(); drift > 0 {
		fmt.Fprintf(&head, "> [!note]\n> %d change(s) marked *drift* are pending on the cluster at the baseline %s already: they do not come from this merge request.\n\n", drift, markdown.Code(short(p.Baseline)))
	}
	rows := false
	for _, c := range p.Changes {
		if c.Action == Unchanged {
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
		fmt.Fprintf(&head, "| %s | %s | %s | %s |\n", action, markdown.Cell(c.subject()), markdown.Cell(c.Model), markdown.Cell(c.Origin))
	}
	if rows {
		head.WriteString("\n")
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(&head, "- warning: %s\n", markdown.Code(warn))
	}
	if head.Len() > MaxMarkdownBytes-1024 {
		return p.writeMarkdownSummary(w, opts)
	}
	body.WriteString(p.markdownDetails(MaxMarkdownBytes-head.Len()-2048, opts))
	_, err := io.WriteString(w, head.String()+"\n"+body.String())
	return err
}

// reviewOrder is the order the note shows diffs in, and keeps them when it
// must cut: what a reviewer most needs first (entries removed from shared
// objects, replacements, changes to what runs), new objects last.
var reviewOrder = map[Action]int{PruneItem: 0, Replace: 1, Recreate: 1, Update: 2, Conflict: 2, Resize: 2, Prune: 3, Error: 4, Adopt: 4, Terminating: 5, Held: 5, Create: 6}

// markdownDetails writes the diffs grouped under their Model, each group
// collapsed, the groups and their diffs in review order, within budget
// bytes; a diff that does not fit is left out and the note lists what was
// left out.
func (p *Plan) markdownDetails(budget int, opts MarkdownOptions) string {
	var body strings.Builder
	left := map[string]int{} // "action Kind" → count
	var leftNames []string
	const wrap = len("<details><summary></summary>\n\n</details>\n\n") + 64
	for _, g := range p.reviewGroups() {
		var inner strings.Builder
		n := 0
		for _, c := range g.Items {
			if (c.Diff == "" && c.Message == "") || c.Action == Unchanged {
				continue
			}
			detail := fmt.Sprintf("**%s** %s\n\n%s%s\n", c.Action, markdown.Code(c.subject()), messageBlock(c), markdown.Fence(c.Diff, diffLang(c.Diff)))
			if body.Len()+inner.Len()+len(detail)+len(g.Title())+wrap > budget {
				left[string(c.Action)+" "+c.Kind]++
				leftNames = append(leftNames, string(c.Action)+" "+c.subject())
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
func (p *Plan) writeMarkdownSummary(w io.Writer, opts MarkdownOptions) error {
	var b strings.Builder
	if opts.Marker != "" {
		fmt.Fprintf(&b, "<!-- %s -->\n", opts.Marker)
	}
	fmt.Fprintf(&b, "### modelsync plan: %s\n\n", markdown.Code(p.target()))
	r := p.Report()
	fmt.Fprintf(&b, "| create | update (objects and entries) | delete | unchanged |\n|---:|---:|---:|---:|\n| %d | %d | %d | %d |\n\n",
		r.Create, r.Update, r.Delete, p.Counts()[Unchanged])
	fmt.Fprintf(&b, "This plan is too large for a note (over %d KB): the full plan is in the job's plan artifact", MaxMarkdownBytes>>10)
	if opts.ArtifactURL != "" {
		fmt.Fprintf(&b, " (%s)", opts.ArtifactURL)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *Plan) driftCount() int {
	n := 0
	for _, c := range p.Changes {
		if c.Drift {
			n++
		}
	}
	return n
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func messageBlock(c Change) string {
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
