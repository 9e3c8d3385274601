// Package listen provides the transports the agent serves sessions on.
package listen

import (
	"context"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
)

// ServeFunc serves one connection until its read side ends.
type ServeFunc func(ctx context.Context, rw io.ReadWriter) error

// Listener is one transport. Open binds or finds it, so that readiness can be
// measured and discovery retried; Run then serves until the transport is gone or ctx
// is done.
type Listener interface {
	String() string
	Open() error
	Run(ctx context.Context, serve ServeFunc) error
}

// Parse turns a --listen value into a Listener that logs to l.
func Parse(spec string, l *log.Logger) (Listener, error) {
	switch {
	case spec == "stdio":
		return &Stdio{}, nil
	case spec == "virtio-serial":
		return &VirtioSerial{Log: l}, nil
	case strings.HasPrefix(spec, "unix:") && len(spec) > len("unix:"):
		return &Unix{Path: spec[len("unix:"):], Log: l}, nil
	case strings.HasPrefix(spec, "vsock:"):
		port, err := strconv.ParseUint(spec[len("vsock:"):], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("listener %q: bad vsock port", spec)
		}
		return &Vsock{Port: uint32(port), Log: l}, nil
	}
	return nil, fmt.Errorf("unknown listener %q (want stdio, unix:PATH, virtio-serial or vsock:PORT)", spec)
}
