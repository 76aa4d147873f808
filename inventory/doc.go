// Package inventory is the ApplySet-compatible (KEP-3659) live inventory of the
// objects modelsync manages in a namespace.
package inventory
