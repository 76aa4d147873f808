package model_test

import (
	"os"
	"path/filepath"
	"testing"

	"modelsync.dev/modelsync/tree/generate"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// FuzzModelDecode: arbitrary bytes give a Model and its objects, or an error; never a panic.
func FuzzModelDecode(f *testing.F) {
	seeds, _ := filepath.Glob("../../models-config/models/*.yaml")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata: {name: x}\nspec: {server: {gpus: -1, variants: [{name: a}, {name: a}]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := manifest.Decode("f.yaml", data)
		var models []model.Model
		for _, o := range objs {
			if model.IsModel(o) {
				if m, err := model.Decode(o); err == nil {
					models = append(models, m)
				}
			}
		}
		_, _ = generate.Objects(models, nil, "ns")
	})
}
