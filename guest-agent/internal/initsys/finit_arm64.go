//go:build linux

package initsys

import "syscall"

const sysFinitModule = syscall.SYS_FINIT_MODULE
