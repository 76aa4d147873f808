package report

import (
	"fmt"
	"io"
	"strings"

	"modelsync.dev/modelsync/diff"
)

func subject(c diff.Change) string {
	s := c.Kind + " " + c.Name
	if c.Item != nil {
		s = fmt.Sprintf("%s %s removed from %s", c.Item.Noun, c.Item.Key, s)
	}
	return s
}

// claimNames lists the claims a prune of c would keep, or delete with
// --delete-pvcs.
func claimNames(c diff.Change) string {
	var names []string
	for _, cl := range c.Claims {
		names = append(names, cl.Name)
	}
	return strings.Join(names, ", ")
}

func summary(p *diff.Plan) string {
	n := p.Counts()
	s := fmt.Sprintf("%d to create, %d to update, %d to prune, %d entries to remove, %d unchanged",
		n[diff.Create], n[diff.Update]+n[diff.Conflict], n[diff.Prune], n[diff.PruneItem], n[diff.Unchanged])
	if p.Verified > 0 {
		s += fmt.Sprintf(" (%d as the last sync recorded them, not dry-run)", p.Verified)
	}
	if n[diff.Adopt] > 0 {
		s += fmt.Sprintf(", %d to adopt", n[diff.Adopt])
	}
	if n[diff.Replace] > 0 {
		s += fmt.Sprintf(", %d to replace (after approval)", n[diff.Replace])
	}
	if n[diff.Recreate] > 0 {
		s += fmt.Sprintf(", %d to restart with downtime (after approval)", n[diff.Recreate])
	}
	if n[diff.Resize] > 0 {
		s += fmt.Sprintf(", %d claims to resize", n[diff.Resize])
	}
	if n[diff.Error] > 0 {
		s += fmt.Sprintf(", %d refused", n[diff.Error])
	}
	return s
}

func target(p *diff.Plan) string {
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
func WriteText(w io.Writer, p *diff.Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for %s: %s\n", target(p), summary(p))
	b.WriteString(modelsText(p))
	groups := groups(p)
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
func writeChangeText(b *strings.Builder, c diff.Change) {
	fmt.Fprintf(b, "%-10s %s", c.Action, subject(c))
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
	if claims := claimNames(c); claims != "" {
		fmt.Fprintf(b, "           claims: %s (kept; deleted only by prune --delete-pvcs)\n", claims)
	}
	if c.Diff != "" && c.Action != diff.Create {
		for _, l := range strings.Split(c.Diff, "\n") {
			fmt.Fprintf(b, "    %s\n", l)
		}
	}
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
