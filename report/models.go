package report

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/report/markdown"
	"modelsync.dev/modelsync/workload"
)

// modelsText is the models table of a text plan, and the GPU totals.
func modelsText(p *diff.Plan) string {
	if len(p.Models) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Models:\n")
	for _, m := range p.Models {
		fmt.Fprintf(&b, "  %-9s %s%s  GPUs %s → %s, memory %s → %s, storage %s → %s\n", m.Change, m.Name, whatText(m.What), workload.GPUCounts(m.GPUsBefore), workload.GPUCounts(m.GPUsAfter),
			orDash(m.MemoryBefore), orDash(m.MemoryAfter), orDash(m.StorageBefore), storageAfter(m))
		for _, c := range slices.Concat(m.Restart, m.Start, m.Capacity) {
			fmt.Fprintf(&b, "            %s\n", c)
		}
	}
	if len(p.Unowned) > 0 {
		fmt.Fprintf(&b, "  shared or hand-written objects: %s\n", strings.Join(p.Unowned, ", "))
	}
	if gpuTotals(p) != "" {
		b.WriteString("GPUs requested in the namespace:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  resource\tbefore\tafter\tchange\tfree in the cluster")
		for _, t := range p.GPUs {
			free := "unknown"
			if t.Free != nil {
				free = fmt.Sprint(*t.Free)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%+d\t%s\n", t.Resource, t.Before, t.After, t.After-t.Before, free)
		}
		tw.Flush()
	}
	b.WriteString("\n")
	return b.String()
}

// whatText is " (image, hardware)" for a change that says what it changes.
func whatText(what []string) string {
	if len(what) == 0 {
		return ""
	}
	return " (" + strings.Join(what, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// gpuTotals writes "4 → 8 nvidia.com/a100 (+4); …" for the resources the
// plan changes.
func gpuTotals(p *diff.Plan) string {
	var parts []string
	for _, t := range p.GPUs {
		if t.Before != t.After {
			free := ""
			if t.Free != nil {
				free = fmt.Sprintf("; %d free in the cluster", *t.Free)
			}
			parts = append(parts, fmt.Sprintf("%d → %d %s (%+d%s)", t.Before, t.After, t.Resource, t.After-t.Before, free))
		}
	}
	return strings.Join(parts, "; ")
}

// modelsMarkdown is the models table of the merge request note.
func modelsMarkdown(p *diff.Plan) string {
	if len(p.Models) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| model | change | GPUs before | GPUs after | memory | storage |\n|---|---|---|---|---|---|\n")
	for _, m := range p.Models {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", markdown.Cell(m.Name), markdown.CellText(string(m.Change)+whatText(m.What)),
			markdown.CellText(workload.GPUCounts(m.GPUsBefore)), markdown.CellText(workload.GPUCounts(m.GPUsAfter)),
			markdown.CellText(orDash(m.MemoryBefore)+" → "+orDash(m.MemoryAfter)), markdown.CellText(orDash(m.StorageBefore)+" → "+storageAfter(m)))
	}
	if len(p.Unowned) > 0 {
		fmt.Fprintf(&b, "| shared or hand-written objects | %s | | | | |\n", markdown.Cell(strings.Join(p.Unowned, ", ")))
	}
	b.WriteString("\n")
	for _, m := range p.Models {
		for _, c := range slices.Concat(m.Restart, m.Start, m.Capacity) {
			fmt.Fprintf(&b, "- %s: %s\n", markdown.Code(m.Name), markdown.Code(c))
		}
	}
	if t := gpuTotals(p); t != "" {
		fmt.Fprintf(&b, "\nGPUs requested in the namespace: %s\n\n", markdown.Text(t))
		b.WriteString(gpuChart(p))
	}
	return b.String()
}

// gpuChart is a Mermaid bar chart (GitLab renders it in the note) of the
// GPUs the namespace requests, per resource, before and after the plan, and
// what the cluster has free when that is known.
func gpuChart(p *diff.Plan) string {
	var labels, values []string
	top := int64(1)
	for _, t := range p.GPUs {
		if t.Before == t.After {
			continue // the chart shows what the plan moves
		}
		name := markdown.Label(t.Resource)
		labels = append(labels, fmt.Sprintf("%q, %q", name+" before", name+" after"))
		values = append(values, fmt.Sprintf("%d, %d", t.Before, t.After))
		top = max(top, t.Before, t.After)
		if t.Free != nil {
			labels = append(labels, fmt.Sprintf("%q", name+" free"))
			values = append(values, fmt.Sprint(*t.Free))
			top = max(top, *t.Free)
		}
	}
	return fmt.Sprintf("```mermaid\nxychart-beta\n  title \"GPUs requested in the namespace\"\n  x-axis [%s]\n  y-axis \"GPUs\" 0 --> %d\n  bar [%s]\n```\n\n",
		strings.Join(labels, ", "), top, strings.Join(values, ", "))
}

// storageAfter is the storage a model asks for after the plan, and what
// its surge copies' claims add while they run.
func storageAfter(m diff.ModelChange) string {
	if m.SurgeStorage == "" {
		return orDash(m.StorageAfter)
	}
	return orDash(m.StorageAfter) + " (+" + m.SurgeStorage + " while the copy starts)"
}
