package session_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"microvm.dev/guest-agent/internal/agenttest"
	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

// testHandlers are operations whose behaviour the session tests control.
type testHandlers struct {
	cancelled chan uint32 // ids whose handler saw its context end
}

func (h *testHandlers) table() map[string]session.Handler {
	return map[string]session.Handler{
		"info": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			return map[string]string{"hello": "world"}, nil
		},
		"panic": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			panic("boom")
		},
		"fail": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			return nil, protocol.Errorf(protocol.CodeNotFound, "nothing here")
		},
		// block waits for cancellation and records it.
		"block": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			<-ctx.Done()
			h.cancelled <- st.ID()
			return nil, ctx.Err()
		},
		// produce sends `size` bytes on channel 0.
		"produce": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			var r struct{ Size int64 }
			json.Unmarshal(req, &r)
			n, err := st.CopyFrom(0, io.LimitReader(zeroReader{}, r.Size))
			if err != nil {
				return nil, err
			}
			st.CloseChannel(0)
			return map[string]int64{"sent": n}, nil
		},
		// echo returns client DATA on channel 0, crediting it after echoing.
		"echo": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			for {
				in, err := st.RecvData()
				if err != nil {
					return nil, err
				}
				if in.Kind == session.InputEOF {
					st.CloseChannel(0)
					return nil, nil
				}
				if _, err := st.CopyFrom(0, bytes.NewReader(in.Data)); err != nil {
					return nil, err
				}
				st.Consumed(in.Channel, len(in.Data))
			}
		},
		// hoard never consumes what it is sent.
		"hoard": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			<-ctx.Done()
			h.cancelled <- st.ID()
			return nil, ctx.Err()
		},
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type harness struct {
	*agenttest.Client
	h      *testHandlers
	served chan error
}

func start(t *testing.T) *harness {
	t.Helper()
	agentSide, clientSide := net.Pipe()
	h := &testHandlers{cancelled: make(chan uint32, 16)}
	served := make(chan error, 1)
	cfg := session.Config{AgentVersion: "9.9.9", Handlers: h.table(), Log: log.New(io.Discard, "", 0)}
	go func() {
		served <- session.Serve(context.Background(), agentSide, cfg)
		agentSide.Close()
	}()
	c := agenttest.New(t, clientSide)
	t.Cleanup(func() {
		c.Close()
		select {
		case <-served:
		case <-time.After(agenttest.Timeout):
			t.Errorf("Serve did not return after the client closed")
		}
	})
	return &harness{Client: c, h: h, served: served}
}

func expectError(t *testing.T, c *agenttest.Client, code protocol.ErrorCode) string {
	t.Helper()
	for {
		f := c.NextSession()
		if f.Type == protocol.TypeError {
			var e protocol.Error
			if err := json.Unmarshal(f.Payload, &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != code {
				t.Fatalf("ERROR %s (%s), want %s", e.Code, e.Message, code)
			}
			return e.Message
		}
		t.Fatalf("got frame type %d, want ERROR %s", f.Type, code)
	}
}

func TestHandshake(t *testing.T) {
	c := start(t)
	h := c.Handshake("abc123")
	if h.Version != 1 || h.Agent != "9.9.9" || h.Window != protocol.InitialWindow ||
		h.MaxFrame != protocol.MaxFrame || h.MaxData != protocol.MaxData {
		t.Fatalf("HELLO %+v", h)
	}
	// Only registered ops are advertised, in the spec's order.
	if strings.Join(h.Ops, ",") != "info" {
		t.Fatalf("ops %v", h.Ops)
	}
	end := c.Unary("info", nil)
	if !end.OK || string(end.Result) != `{"hello":"world"}` {
		t.Fatalf("info: %s", end)
	}
}

func TestRawBytesOnTheWire(t *testing.T) {
	agentSide, clientSide := net.Pipe()
	cfg := session.Config{AgentVersion: "1", Handlers: map[string]session.Handler{}, Log: log.New(io.Discard, "", 0)}
	go session.Serve(context.Background(), agentSide, cfg)
	defer clientSide.Close()
	go clientSide.Write(agenttest.HelloFrame([]int{1}, "n"))
	got := make([]byte, 20)
	if _, err := io.ReadFull(clientSide, got); err != nil {
		t.Fatal(err)
	}
	if string(got[:8]) != "MVMAGENT" || got[12] != 0x01 || got[13] != 0 || got[14] != 0 || got[15] != 0 ||
		binary.BigEndian.Uint32(got[16:20]) != 0 {
		t.Fatalf("reply starts % x", got)
	}
}

func TestVersionMismatch(t *testing.T) {
	c := start(t)
	c.WriteRaw(agenttest.HelloFrame([]int{7, 8}, "old"))
	msg := expectError(t, c.Client, protocol.CodeUnsupportedVersion)
	if !strings.Contains(msg, "[7 8]") {
		t.Errorf("message %q does not name the offered versions", msg)
	}
	// The agent went back to searching: a correct HELLO is answered.
	c.Handshake("new")
}

func TestResyncAfterGarbage(t *testing.T) {
	c := start(t)
	c.WriteRaw([]byte("garbage MVMAGEN half a preamble \x00\x00\x00\x01\x02"))
	c.Handshake("one")
	if !c.Unary("info", nil).OK {
		t.Fatal("info failed")
	}
}

func TestOversizedHeaderResyncs(t *testing.T) {
	c := start(t)
	c.Handshake("one")
	// 2 GiB announced: the agent must refuse from the header alone.
	c.WriteRaw([]byte{0x7f, 0xff, 0xff, 0xff, 0x03, 0, 0, 0, 0, 0, 0, 1})
	expectError(t, c.Client, protocol.CodeFrameTooLarge)
	c.Handshake("two")
	if !c.Unary("info", nil).OK {
		t.Fatal("info failed after resync")
	}
}

func TestPreambleWhereHeaderExpected(t *testing.T) {
	c := start(t)
	c.Handshake("one")
	// A client retrying its handshake mid-session: the preamble reads as a huge length.
	c.WriteRaw(agenttest.HelloFrame([]int{1}, "two"))
	expectError(t, c.Client, protocol.CodeFrameTooLarge)
	f := c.NextSession()
	var h agenttest.Hello
	json.Unmarshal(f.Payload, &h)
	if f.Type != protocol.TypeHello || h.Nonce != "two" {
		t.Fatalf("got type %d %s", f.Type, f.Payload)
	}
}

func TestFramingErrors(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		code  protocol.ErrorCode
	}{
		{"unknown type", protocol.AppendFrame(nil, protocol.Frame{Type: 0x42, Stream: 1}), protocol.CodeBadFrame},
		{"reserved bits", []byte{0, 0, 0, 0, 0x09, 0, 0, 1, 0, 0, 0, 0}, protocol.CodeBadFrame},
		{"data over maxData", []byte{0, 1, 0, 1, 0x03, 0, 0, 0, 0, 0, 0, 1}, protocol.CodeBadFrame},
		{"agent-only type", protocol.AppendFrame(nil, protocol.Frame{Type: protocol.TypeEnd, Stream: 1}), protocol.CodeBadFrame},
		{"open without stream", protocol.AppendFrame(nil, protocol.Frame{Type: protocol.TypeOpen, Payload: []byte(`{"op":"info"}`)}), protocol.CodeBadFrame},
		{"short window", protocol.AppendFrame(nil, protocol.Frame{Type: protocol.TypeWindow, Stream: 1, Payload: []byte{1}}), protocol.CodeBadFrame},
		{"big ping", protocol.AppendFrame(nil, protocol.Frame{Type: protocol.TypePing, Payload: make([]byte, 65)}), protocol.CodeBadFrame},
		{"too large", []byte{0, 0x10, 0, 1, 0x02, 0, 0, 0, 0, 0, 0, 1}, protocol.CodeFrameTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t)
			c.Handshake("one")
			id := c.Open("block", nil)
			c.WriteRaw(tc.frame)
			expectError(t, c.Client, tc.code)
			expectSessionEnded(t, c, id)
		})
	}
}

func TestHelloMustComeFirst(t *testing.T) {
	c := start(t)
	c.WriteRaw(append([]byte("MVMAGENT"), protocol.AppendFrame(nil, protocol.Frame{Type: protocol.TypePing})...))
	expectError(t, c.Client, protocol.CodeBadFrame)
	c.Handshake("ok")
}

func TestPing(t *testing.T) {
	c := start(t)
	c.Handshake("p")
	c.Send(protocol.Frame{Type: protocol.TypePing, Payload: []byte("12345678")})
	f := c.NextSession()
	if f.Type != protocol.TypePong || string(f.Payload) != "12345678" {
		t.Fatalf("got type %d %q", f.Type, f.Payload)
	}
}

func TestStreamErrorsKeepTheSession(t *testing.T) {
	c := start(t)
	c.Handshake("s")
	end := c.Unary("nope.op", nil)
	if end.Code() != protocol.CodeUnknownOperation || !strings.Contains(end.Error.Message, "nope.op") {
		t.Fatalf("unknown op: %s", end)
	}
	c.Send(protocol.Frame{Type: protocol.TypeOpen, Stream: 77, Payload: []byte(`{"op": `)})
	if end := c.Collect(77).End; end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("malformed JSON: %s", end)
	}
	c.Send(protocol.Frame{Type: protocol.TypeOpen, Stream: 78, Payload: []byte(`{"path":"/"}`)})
	if end := c.Collect(78).End; end.Code() != protocol.CodeInvalidArgument || !strings.Contains(end.Error.Message, "op") {
		t.Fatalf("missing op: %s", end)
	}
	if end := c.Unary("fail", nil); end.Code() != protocol.CodeNotFound || end.Error.Message != "nothing here" {
		t.Fatalf("fail: %s", end)
	}
	if end := c.Unary("panic", nil); end.Code() != protocol.CodeInternal || !strings.Contains(end.Error.Message, "boom") {
		t.Fatalf("panic: %s", end)
	}
	// Frames for unknown streams are ignored.
	c.Send(protocol.Frame{Type: protocol.TypeData, Stream: 999, Payload: []byte("x")})
	c.Send(protocol.Frame{Type: protocol.TypeCancel, Stream: 999})
	if !c.Unary("info", nil).OK {
		t.Fatal("session stopped serving")
	}
}

func TestStreamInUse(t *testing.T) {
	c := start(t)
	c.Handshake("s")
	id := c.Open("block", nil)
	c.Send(protocol.Frame{Type: protocol.TypeOpen, Stream: id, Payload: []byte(`{"op":"info"}`)})
	expectError(t, c.Client, protocol.CodeStreamInUse)
	expectSessionEnded(t, c, id)
}

func TestAgentRespectsClientWindow(t *testing.T) {
	c := start(t)
	c.Handshake("w")
	const size = 3 << 20
	id := c.Open("produce", map[string]any{"size": size})
	// Withhold credit: the agent may send one window and must then stop.
	received := c.ReceiveUntilStalled(id)
	if received != int(protocol.InitialWindow) {
		t.Fatalf("agent sent %d bytes before stalling, want the full window %d", received, protocol.InitialWindow)
	}
	c.Credit(id, 0, uint32(received))
	o := c.Collect(id)
	if total := received + o.Out[0].Len(); total != size || !o.EOF[0] || !o.End.OK {
		t.Fatalf("total %d, eof %v, end %s", total, o.EOF[0], o.End)
	}
}

func TestEchoWithCredit(t *testing.T) {
	c := start(t)
	c.Handshake("e")
	id := c.Open("echo", nil)
	payload := bytes.Repeat([]byte("0123456789"), 100000)
	go func() {
		c.SendData(id, payload)
		c.SendEOF(id)
	}()
	o := c.Collect(id)
	if !bytes.Equal(o.Out[0].Bytes(), payload) || !o.End.OK {
		t.Fatalf("echoed %d bytes, end %s", o.Out[0].Len(), o.End)
	}
}

func TestClientOverrunsWindow(t *testing.T) {
	c := start(t)
	c.Handshake("o")
	id := c.Open("hoard", nil)
	c.SendData(id, make([]byte, protocol.InitialWindow))
	// One byte beyond the window, bypassing the client's own flow control.
	c.Send(protocol.Frame{Type: protocol.TypeData, Stream: id, Payload: []byte("1")})
	expectError(t, c.Client, protocol.CodeFlowControl)
	expectSessionEnded(t, c, id)
}

// expectSessionEnded checks what every session ERROR implies: the session's streams are
// cancelled, and a new preamble + HELLO starts a session that serves.
func expectSessionEnded(t *testing.T, c *harness, id uint32) {
	t.Helper()
	select {
	case got := <-c.h.cancelled:
		if got != id {
			t.Fatalf("cancelled %d, want %d", got, id)
		}
	case <-time.After(agenttest.Timeout):
		t.Fatal("the stream of the failed session was not cancelled")
	}
	c.Handshake("again")
	if !c.Unary("info", nil).OK {
		t.Fatal("a new session after the ERROR does not serve")
	}
}

func TestHelloResetsSession(t *testing.T) {
	c := start(t)
	c.Handshake("one")
	id := c.Open("block", nil)
	c.Handshake("two")
	select {
	case got := <-c.h.cancelled:
		if got != id {
			t.Fatalf("cancelled %d", got)
		}
	case <-time.After(agenttest.Timeout):
		t.Fatal("stream of the old session was not cancelled")
	}
	if !c.Unary("info", nil).OK {
		t.Fatal("new session does not serve")
	}
}

func TestDisconnectCancelsStreams(t *testing.T) {
	c := start(t)
	c.Handshake("d")
	c.Open("block", nil)
	c.Open("block", nil)
	c.Close()
	for i := 0; i < 2; i++ {
		select {
		case <-c.h.cancelled:
		case <-time.After(agenttest.Timeout):
			t.Fatal("stream not cancelled on disconnect")
		}
	}
	select {
	case err := <-c.served:
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Serve: %v", err)
		}
		c.served <- nil
	case <-time.After(agenttest.Timeout):
		t.Fatal("Serve did not return")
	}
}

func TestManyConcurrentStreams(t *testing.T) {
	c := start(t)
	c.Handshake("m")
	var ids []uint32
	for i := 0; i < 20; i++ {
		ids = append(ids, c.Open("produce", map[string]any{"size": 300000}))
	}
	var failed atomic.Int32
	done := make(chan struct{})
	for _, id := range ids {
		go func(id uint32) {
			o := c.Collect(id)
			if o.Out[0].Len() != 300000 || !o.End.OK {
				failed.Add(1)
			}
			done <- struct{}{}
		}(id)
	}
	for range ids {
		<-done
	}
	if failed.Load() != 0 {
		t.Fatalf("%d streams failed", failed.Load())
	}
}

// recordingConn keeps what the agent has finished writing.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (r *recordingConn) Write(p []byte) (int, error) {
	n, err := r.Conn.Write(p)
	r.mu.Lock()
	r.written.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recordingConn) hasWritten(b []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.written.Bytes(), b)
}

func TestAfterEndRunsOnceEndIsOut(t *testing.T) {
	agentSide, clientSide := net.Pipe()
	rec := &recordingConn{Conn: agentSide}
	ran := make(chan bool, 1)
	handlers := map[string]session.Handler{
		"act": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			st.AfterEnd(func() { ran <- rec.hasWritten([]byte(`{"ok":true,"result":{}}`)) })
			return nil, nil
		},
		"refuse": func(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
			st.AfterEnd(func() { t.Error("ran after a failed END") })
			return nil, protocol.Errorf(protocol.CodeNotPermitted, "no")
		},
	}
	go session.Serve(context.Background(), rec, session.Config{Handlers: handlers, Log: log.New(io.Discard, "", 0)})
	c := agenttest.New(t, clientSide)
	defer c.Close()
	c.Handshake("a")
	if end := c.Unary("refuse", nil); end.Code() != protocol.CodeNotPermitted {
		t.Fatalf("refuse: %s", end)
	}
	if end := c.Unary("act", nil); !end.OK {
		t.Fatalf("act: %s", end)
	}
	select {
	case endWasOut := <-ran:
		if !endWasOut {
			t.Fatal("the action ran before END reached the transport")
		}
	case <-time.After(agenttest.Timeout):
		t.Fatal("action did not run")
	}
}
