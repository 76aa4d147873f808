// Package inventory is the ApplySet-compatible (KEP-3659) live inventory of the
// objects modelsync manages in a namespace.
package inventory

// Version is the modelsync version, recorded in the ApplySet parent's tooling
// annotation. Release builds set it with -ldflags "-X ...inventory.Version=v1.2.3".
var Version = "v0.1.0-dev"
