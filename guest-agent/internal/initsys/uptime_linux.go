package initsys

import (
	"syscall"
	"time"
	"unsafe"
)

// clockBoottime is CLOCK_BOOTTIME, the clock /proc/uptime reports; reading it directly
// works before /proc is mounted.
const clockBoottime = 7

// UptimeMs is the time since the kernel booted.
func UptimeMs() (int64, bool) {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockBoottime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()).Milliseconds(), true
}
