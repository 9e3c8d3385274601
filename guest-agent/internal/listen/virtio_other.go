//go:build !linux

package listen

import (
	"context"
	"errors"
	"log"
)

var errNoVirtio = errors.New("virtio-serial is supported on Linux only")

// VirtioSerial is unavailable outside Linux.
type VirtioSerial struct{ Log *log.Logger }

func (v *VirtioSerial) String() string { return "virtio-serial" }

func (v *VirtioSerial) Open() error { return errNoVirtio }

func (v *VirtioSerial) Run(ctx context.Context, serve ServeFunc) error { return errNoVirtio }
