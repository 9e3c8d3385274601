package listen

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"microvm.dev/guest-agent/protocol"
)

// VirtioSerial serves the virtio-serial port named protocol.VirtioPort. A port is not
// a connection: it serves one session at a time, and reads hit EOF while no host
// process is attached, so it polls until the next one attaches.
type VirtioSerial struct {
	Log *log.Logger
	dev string

	mu   sync.Mutex // guards port, which is replaced on reopen and closed on shutdown
	port *os.File
}

func (v *VirtioSerial) String() string { return "virtio-serial" }

// Open finds the port by name in sysfs: the guest has no udev to create the
// /dev/virtio-ports/ symlinks.
func (v *VirtioSerial) Open() error {
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != protocol.VirtioPort {
			continue
		}
		v.dev = "/dev/" + filepath.Base(filepath.Dir(n))
		f, err := os.OpenFile(v.dev, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		v.port = f
		return nil
	}
	return fmt.Errorf("no virtio-serial port named %s", protocol.VirtioPort)
}

func (v *VirtioSerial) Run(ctx context.Context, serve ServeFunc) error {
	go func() {
		<-ctx.Done()
		v.mu.Lock()
		v.port.Close()
		v.mu.Unlock()
	}()
	for ctx.Err() == nil {
		v.mu.Lock()
		port := v.port
		v.mu.Unlock()
		if err := serve(ctx, port); err != nil && ctx.Err() == nil {
			// A read error may leave the device unusable; a fresh descriptor also
			// drops a writer that never finished.
			v.Log.Printf("%s: %v; reopening %s", v, err, v.dev)
			if !v.reopen(ctx) {
				return nil
			}
		}
		sleep(ctx, 20*time.Millisecond)
	}
	return nil
}

func (v *VirtioSerial) reopen(ctx context.Context) bool {
	for {
		v.mu.Lock()
		if ctx.Err() != nil {
			v.mu.Unlock()
			return false
		}
		v.port.Close()
		f, err := os.OpenFile(v.dev, os.O_RDWR, 0)
		if err == nil {
			v.port = f
		}
		v.mu.Unlock()
		if err == nil {
			return true
		}
		if !sleep(ctx, time.Second) {
			return false
		}
	}
}

// sleep waits d unless ctx ends first, and reports whether it waited the full time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
