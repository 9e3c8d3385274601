//go:build !linux

package listen

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
)

var errNoVsock = errors.New("vsock is supported on Linux only")

// Vsock is unavailable outside Linux.
type Vsock struct {
	Port uint32
	Log  *log.Logger
}

func (v *Vsock) String() string { return fmt.Sprintf("vsock:%d", v.Port) }

func (v *Vsock) Open() error { return errNoVsock }

func (v *Vsock) Run(ctx context.Context, serve ServeFunc) error { return errNoVsock }

// VsockConn is unavailable outside Linux.
type VsockConn struct{ *os.File }

func (c VsockConn) CloseWrite() error { return errNoVsock }

// DialVsock always fails outside Linux.
func DialVsock(cid, port uint32) (VsockConn, error) {
	return VsockConn{}, errNoVsock
}
