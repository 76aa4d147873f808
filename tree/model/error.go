package model

import (
	"fmt"

	"modelsync.dev/modelsync/tree/manifest"
)

// Error is a problem generating a Model's objects, located at the Model's file.
type Error struct {
	Origin manifest.Origin
	Model  string
	Msg    string
	Hint   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("Model %s: %s", e.Model, e.Msg)
	if e.Origin.File != "" {
		s = fmt.Sprintf("%s: %s", e.Origin, s)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}
