package validation

import (
	"fmt"
	"regexp"

	"modelsync.dev/modelsync/tree/modelfiles"
	"modelsync.dev/modelsync/tree/sizing"
)

var commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// checkStart refuses a Model that vLLM could not start: the lock's facts of
// its upstream@revision against the smallest GPU it may be scheduled on.
func checkStart(c *checker) {
	for i := range c.in.Models {
		m := &c.in.Models[i]
		s := m.Spec.Server
		if s == nil || m.Spec.Revision == "" {
			continue
		}
		obj := "Model " + m.Name()
		key := modelfiles.Key(m.Spec.Upstream, m.Spec.Revision)
		f := c.in.Lock.Models[key]
		if f == nil {
			c.add(Error, RuleModelLock, m.Origin.At("spec", "revision"), obj, key+" is not in "+modelfiles.LockFile,
				"run modelsync lock --path <the tree> and commit "+modelfiles.LockFile)
			continue
		}
		if !commitHash.MatchString(m.Spec.Revision) {
			c.add(Warning, "model-revision", m.Origin.At("spec", "revision"), obj,
				fmt.Sprintf("revision %s is a branch or tag: the engine loads its newest commit, which may not be the locked %s", m.Spec.Revision, f.Commit),
				"pin the commit: revision: "+f.Commit)
		}
		if !sizing.Sized(m) {
			continue
		}
		for _, v := range sizing.ForModel(m, f) {
			where := ""
			if v.Variant != "" {
				where = " (variant " + v.Variant + ")"
			}
			switch {
			case v.Err != nil:
				c.add(Warning, "model-start", serverField(m, v.Variant, "gpus"), obj, "cannot size"+where+": "+v.Err.Error(), "")
			case !v.Fits:
				c.add(Error, "model-start", serverField(m, v.Variant, "maxModelLen", "gpus", "tensorParallel"), obj, "vLLM would not start"+where+": "+v.Reason,
					"see modelsync size for the figures; overheadGi replaces the overhead estimate")
			}
		}
	}
}

// RuleModelLock is the finding of a Model whose facts are not in the lock:
// what modelsync lock writes.
const RuleModelLock = "model-lock"
