//go:build linux

package initsys

// The syscall package does not define SYS_FINIT_MODULE on amd64.
const sysFinitModule = 313
