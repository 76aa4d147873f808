package model

import (
	"fmt"
	"math"

	"modelsync.dev/modelsync/tree/modelfiles"
)

// UseFacts fills the sizes a Model leaves out from the facts of its files
// (modelsync.lock): weightsGi, paramsB, attentionHeads, kvHeads and mla.
// Fields the Model sets stay: they override. It returns what a set field
// says that the files contradict by more than 5 %, one line each.
func (m *Model) UseFacts(f *Facts) []string {
	s := m.Spec.Server
	if s == nil || f == nil {
		return nil
	}
	weights := math.Round(float64(f.WeightsBytes)/(1<<30)*100) / 100
	params := math.Round(float64(f.Parameters)/1e8) / 10
	var differ []string
	check := func(field string, set, fact float64) {
		if set > 0 && math.Abs(set-fact) > 0.05*fact {
			differ = append(differ, fmt.Sprintf("%s %g, but the model's files say %g", field, set, fact))
		}
	}
	check("weightsGi", s.WeightsGi, weights)
	check("paramsB", s.ParamsB, params)
	if s.WeightsGi == 0 {
		s.WeightsGi = weights
	}
	if s.ParamsB == 0 {
		s.ParamsB = params
	}
	if c := f.Config; c != nil {
		check("attentionHeads", float64(s.AttentionHeads), float64(c.Heads))
		check("kvHeads", float64(s.KVHeads), float64(c.KVHeads))
		if s.AttentionHeads == 0 {
			s.AttentionHeads = int(c.Heads)
		}
		if s.KVHeads == 0 {
			s.KVHeads = int(c.KVHeads)
		}
		if c.MLA() {
			s.MLA = true
		}
	}
	return differ
}

// Facts are the facts of a model's files.
type Facts = modelfiles.Facts
