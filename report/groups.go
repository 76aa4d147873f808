package report

import (
	"slices"

	"modelsync.dev/modelsync/diff"
)

// changeGroup is the changes of one Model, or of the objects that belong to
// none (Model ""), as a reviewer reads them: under the model they change.
type changeGroup struct {
	Model  string
	Change string // the Model's change: added, changed, removed, replaced
	Items  []diff.Change
}

// Title names the group.
func (g changeGroup) Title() string {
	if g.Model == "" {
		return "Shared or hand-written objects"
	}
	if g.Change == "" {
		return "Model " + g.Model
	}
	return "Model " + g.Model + " (" + g.Change + ")"
}

// groups returns the changes worth showing (not unchanged, or with a
// message), grouped by Model in the models table's order, then the models
// the table does not list, then the objects of no Model.
func groups(p *diff.Plan) []changeGroup {
	byModel := map[string]*changeGroup{}
	var order []string
	add := func(name string) *changeGroup {
		if g, ok := byModel[name]; ok {
			return g
		}
		g := &changeGroup{Model: name}
		byModel[name] = g
		order = append(order, name)
		return g
	}
	for _, m := range p.Models {
		add(m.Name).Change = string(m.Change)
	}
	for _, c := range p.Changes {
		if c.Action == diff.Unchanged && c.Message == "" {
			continue
		}
		g := add(c.Model)
		g.Items = append(g.Items, c)
	}
	var out []changeGroup
	for _, name := range order {
		if g := byModel[name]; name != "" && len(g.Items) > 0 {
			out = append(out, *g)
		}
	}
	if g := byModel[""]; g != nil && len(g.Items) > 0 {
		out = append(out, *g)
	}
	return out
}

// mostUrgent is the group's first action in review order.
func (g changeGroup) mostUrgent() int {
	first := len(reviewOrder)
	for _, c := range g.Items {
		first = min(first, reviewOrder[c.Action])
	}
	return first
}

// reviewGroups orders groups for the note: the group with the most urgent
// change first (an entry removed, a replacement), objects of no Model last
// among equals, and each group's changes in review order.
func reviewGroups(p *diff.Plan) []changeGroup {
	gs := groups(p)
	for i := range gs {
		slices.SortStableFunc(gs[i].Items, func(a, b diff.Change) int { return reviewOrder[a.Action] - reviewOrder[b.Action] })
	}
	slices.SortStableFunc(gs, func(a, b changeGroup) int { return a.mostUrgent() - b.mostUrgent() })
	return gs
}
