package model

// AnnotationCatalogue on a hand-written ConfigMap names the data key that
// modelsync fills with the catalogue of served models, for the chat UI's
// config template (the runbook's last step).
const AnnotationCatalogue = Group + "/catalogue"

// CatalogueEntry is one served model as the chat UI lists it.
type CatalogueEntry struct {
	// Name is the model name clients send (x-ai-eg-model).
	Name string `json:"name"`
	// Owner is the rule's modelsOwnedBy.
	Owner string `json:"owner,omitempty"`
	// Kind is chat or embedding.
	Kind string `json:"kind"`
}
