//go:build !linux

// Package reaper owns child reaping on Linux; other systems have nothing to reap yet.
package reaper

// Reaper is a placeholder on systems where exec is not supported yet.
type Reaper struct{}

// Start does nothing outside Linux.
func Start() *Reaper { return &Reaper{} }
