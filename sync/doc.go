// Package sync executes a Plan: ordered server-side apply, health wait, approved prune.
package sync
