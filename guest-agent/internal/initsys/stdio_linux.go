package initsys

import "syscall"

// ReserveStdio occupies descriptors 0-2 if they are closed, as they are when the
// kernel starts init without a /dev/console in the initramfs. Otherwise the first
// files opened (the agent's own transport) would land on them, and log lines written
// to stderr would be injected into the protocol stream.
func ReserveStdio() {
	for fd := 0; fd <= 2; fd++ {
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e != syscall.EBADF {
			continue
		}
		// Before devtmpfs is mounted /dev/null may not exist; a directory opened
		// read-only is a harmless placeholder that rejects writes.
		nfd, err := syscall.Open("/dev/null", syscall.O_RDWR, 0)
		if err != nil {
			nfd, err = syscall.Open("/", syscall.O_RDONLY, 0)
		}
		if err != nil {
			return
		}
		if nfd != fd {
			syscall.Dup3(nfd, fd, 0)
			syscall.Close(nfd)
		}
	}
}
