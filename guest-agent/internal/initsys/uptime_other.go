//go:build !linux

package initsys

// UptimeMs reports that the machine's uptime is not known outside Linux yet.
func UptimeMs() (int64, bool) { return 0, false }
