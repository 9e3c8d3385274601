package listen

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"time"
)

// Unix serves each connection to a Unix socket as its own session.
type Unix struct {
	Path string
	Log  *log.Logger
	ln   net.Listener
}

func (u *Unix) String() string { return "unix:" + u.Path }

func (u *Unix) Open() error {
	// A socket file left by an earlier run would make bind fail; anything else at the
	// path is not ours to delete.
	if fi, err := os.Lstat(u.Path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		os.Remove(u.Path)
	}
	ln, err := net.Listen("unix", u.Path)
	if err != nil {
		return err
	}
	u.ln = ln
	return nil
}

func (u *Unix) Run(ctx context.Context, serve ServeFunc) error {
	accept := func() (io.ReadWriteCloser, error) { return u.ln.Accept() }
	return acceptLoop(ctx, u.String(), accept, u.ln.Close, serve, u.Log)
}

// acceptLoop serves connections concurrently until ctx is done or the listener is
// closed. Other accept errors (out of descriptors) are waited out, not fatal: the
// agent may be the only way into the guest.
func acceptLoop(ctx context.Context, name string, accept func() (io.ReadWriteCloser, error), closeListener func() error, serve ServeFunc, l *log.Logger) error {
	go func() {
		<-ctx.Done()
		closeListener()
	}()
	for {
		c, err := accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, fs.ErrClosed) {
				return ctx.Err()
			}
			l.Printf("%s: accept: %v", name, err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			if err := serve(ctx, c); err != nil {
				l.Printf("%s: %v", name, err)
			}
		}()
	}
}
