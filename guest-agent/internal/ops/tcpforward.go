package ops

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

const dialTimeout = 10 * time.Second

func (a *Agent) tcpConnect(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Port *int   `json:"port"`
		Host string `json:"host"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	if r.Port == nil {
		return nil, missing("port")
	}
	if *r.Port < 1 || *r.Port > 65535 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field port must be 1-65535, got %d", *r.Port)
	}
	if r.Host == "" {
		r.Host = "127.0.0.1"
	}
	addr := net.JoinHostPort(r.Host, strconv.Itoa(*r.Port))
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, dialError(ctx, addr, err)
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	if err := st.Control(map[string]string{"event": "connected"}); err != nil {
		return nil, err
	}

	var wg sync.WaitGroup
	var upErr, downErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		upErr = forwardToSocket(st, conn)
	}()
	go func() {
		defer wg.Done()
		_, downErr = st.CopyFrom(protocol.ChannelStdout, conn)
		if downErr == nil {
			downErr = st.CloseChannel(protocol.ChannelStdout)
		}
	}()
	// Cancelling must unblock both directions, which wait on the socket.
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-stop:
		}
	}()
	wg.Wait()
	close(stop)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, err := range []error{upErr, downErr} {
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeIOError, "connection to %s: %v", addr, err)
		}
	}
	return struct{}{}, nil
}

// forwardToSocket writes the client's DATA to the socket until the client's EOF, then
// half-closes it so the guest-side server sees the end of its input.
func forwardToSocket(st *session.Stream, conn *net.TCPConn) error {
	var werr error
	for {
		in, err := st.RecvData()
		if err != nil {
			return err
		}
		if in.Channel != protocol.ChannelStdin {
			continue
		}
		if in.Kind == session.InputEOF {
			if werr != nil {
				return werr
			}
			return conn.CloseWrite()
		}
		// After a failed write the bytes are dropped, but still credited, so the client
		// is never left waiting for a window that cannot open.
		if werr == nil {
			_, werr = conn.Write(in.Data)
		}
		if err := st.Consumed(in.Channel, len(in.Data)); err != nil {
			return err
		}
	}
}

func dialError(ctx context.Context, addr string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return protocol.Errorf(protocol.CodeConnectionRefused, "connection to %s refused", addr)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return protocol.Errorf(protocol.CodeNotFound, "no such host: %s", dnsErr.Name)
	}
	return protocol.Errorf(protocol.CodeIOError, "connecting to %s: %v", addr, err)
}
