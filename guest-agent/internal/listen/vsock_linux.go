package listen

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"syscall"
	"unsafe"
)

// The syscall package knows neither AF_VSOCK (on amd64) nor struct sockaddr_vm, so
// vsock sockets are driven with raw system calls.
const (
	afVsock      = 40
	vmaddrCIDAny = 0xFFFFFFFF
)

// sockaddrVM is struct sockaddr_vm from <linux/vm_sockets.h>.
type sockaddrVM struct {
	family    uint16
	reserved1 uint16
	port      uint32
	cid       uint32
	flags     uint8
	zero      [3]uint8
}

// Vsock serves each AF_VSOCK connection to Port as its own session.
type Vsock struct {
	Port uint32
	Log  *log.Logger
	ln   *os.File
}

func (v *Vsock) String() string { return fmt.Sprintf("vsock:%d", v.Port) }

// Open fails with EAFNOSUPPORT until the vsock transport module is loaded.
func (v *Vsock) Open() error {
	fd, err := syscall.Socket(afVsock, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("vsock socket: %w", err)
	}
	sa := sockaddrVM{family: afVsock, port: v.Port, cid: vmaddrCIDAny}
	if _, _, e := syscall.Syscall(syscall.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		syscall.Close(fd)
		return fmt.Errorf("vsock bind port %d: %w", v.Port, e)
	}
	if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("vsock listen: %w", err)
	}
	// A non-blocking descriptor joins Go's poller, so accept waits without a thread
	// and closing the file ends it.
	v.ln = os.NewFile(uintptr(fd), v.String())
	return nil
}

func (v *Vsock) Run(ctx context.Context, serve ServeFunc) error {
	return acceptLoop(ctx, v.String(), v.accept, v.ln.Close, serve, v.Log)
}

func (v *Vsock) accept() (io.ReadWriteCloser, error) {
	rc, err := v.ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.Syscall6(syscall.SYS_ACCEPT4, fd, 0, 0, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
		switch e {
		case syscall.EAGAIN:
			return false
		case 0:
			nfd = int(r)
		default:
			aerr = e
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, aerr
	}
	return os.NewFile(uintptr(nfd), v.String()), nil
}

// VsockConn is a connected AF_VSOCK stream.
type VsockConn struct{ *os.File }

// CloseWrite shuts down the sending direction, so the peer reads EOF while replies
// can still arrive.
func (c VsockConn) CloseWrite() error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}

// DialVsock connects to port on the VM (or host) with context id cid.
func DialVsock(cid, port uint32) (VsockConn, error) {
	// A blocking connect: vsock's non-blocking connect does not reliably signal
	// writability once the loopback transport completes it, and the kernel bounds the
	// wait itself (2 s by default).
	fd, err := syscall.Socket(afVsock, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return VsockConn{}, fmt.Errorf("vsock socket: %w", err)
	}
	sa := sockaddrVM{family: afVsock, port: port, cid: cid}
	for {
		_, _, e := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			syscall.Close(fd)
			return VsockConn{}, fmt.Errorf("vsock connect %d:%d: %w", cid, port, e)
		}
		break
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return VsockConn{}, fmt.Errorf("vsock socket: %w", err)
	}
	return VsockConn{os.NewFile(uintptr(fd), fmt.Sprintf("vsock:%d:%d", cid, port))}, nil
}
