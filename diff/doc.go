// Package diff compares the desired set with the live inventory and returns a Plan.
package diff
