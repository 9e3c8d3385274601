package initsys

import (
	"errors"
	"syscall"
	"unsafe"
)

// struct ifreq, as its flags and address variants; both are 40 bytes.
type ifreqFlags struct {
	name  [syscall.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

type ifreqAddr struct {
	name [syscall.IFNAMSIZ]byte
	addr syscall.RawSockaddrInet4
	_    [8]byte
}

// bringUpLoopback sets lo up: tcp.connect to 127.0.0.1 and most servers need it, and
// there is no network manager in the guest.
func bringUpLoopback() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var fr ifreqFlags
	copy(fr.name[:], "lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, unsafe.Pointer(&fr)); err != nil {
		return err
	}
	fr.flags |= syscall.IFF_UP
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, unsafe.Pointer(&fr)); err != nil {
		return err
	}
	// The kernel normally gives lo 127.0.0.1/8 when it comes up; set it only if not.
	var ar ifreqAddr
	copy(ar.name[:], "lo")
	err = ioctl(fd, syscall.SIOCGIFADDR, unsafe.Pointer(&ar))
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return err
	}
	ar.addr = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	if err := ioctl(fd, syscall.SIOCSIFADDR, unsafe.Pointer(&ar)); err != nil {
		return err
	}
	ar.addr.Addr = [4]byte{255, 0, 0, 0}
	return ioctl(fd, syscall.SIOCSIFNETMASK, unsafe.Pointer(&ar))
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
