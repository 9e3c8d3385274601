package ops

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// terminal is the agent's side (master) of a PTY.
type terminal struct {
	master *os.File
}

// The default VEOF character. A process that changed it expects raw input anyway.
const ctrlD = 0x04

// openTerminal allocates a PTY of the given size and returns its master and slave.
func openTerminal(rows, cols uint16) (*terminal, *os.File, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	t := &terminal{master: master}
	var unlock int32
	var n uint32
	err = t.ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	if err == nil {
		err = t.ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	}
	if err == nil {
		err = t.setSize(rows, cols)
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return t, slave, nil
}

// ioctl goes through the raw conn: File.Fd would switch the master to blocking mode,
// and then closing it could no longer interrupt a pending read.
func (t *terminal) ioctl(req uintptr, arg unsafe.Pointer) error {
	rc, err := t.master.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

func (t *terminal) setSize(rows, cols uint16) error {
	ws := struct{ rows, cols, xpixel, ypixel uint16 }{rows, cols, 0, 0}
	return t.ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
}

func (t *terminal) typeEOF() error {
	_, err := t.master.Write([]byte{ctrlD})
	return err
}

// Read reports the end of output as io.EOF: once every slave descriptor is closed, the
// master's reads fail with EIO instead.
func (t *terminal) Read(p []byte) (int, error) {
	n, err := t.master.Read(p)
	if err != nil && errors.Is(err, syscall.EIO) {
		return n, io.EOF
	}
	return n, err
}
