//go:build !linux

package ops

// kernelVersion is left empty until the Windows agent reports its build.
func kernelVersion() string { return "" }
