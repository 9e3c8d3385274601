//go:build !linux

package initsys

// ReserveStdio has nothing to do outside Linux, where the agent is never init.
func ReserveStdio() {}
