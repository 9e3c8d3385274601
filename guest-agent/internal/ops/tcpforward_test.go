package ops_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"microvm.dev/guest-agent/internal/agenttest"
	"microvm.dev/guest-agent/protocol"
)

func TestTCPConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The server reads everything, then answers with its length and the upper-cased data.
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		b, _ := io.ReadAll(conn)
		conn.Write(bytes.ToUpper(b))
	}()
	c := startAgent(t, nil)
	id := c.Open("tcp.connect", map[string]any{"port": ln.Addr().(*net.TCPAddr).Port})
	payload := bytes.Repeat([]byte("abc"), 200000)
	go func() {
		c.SendData(id, payload)
		c.SendEOF(id)
	}()
	o := c.Collect(id)
	if !o.End.OK || !bytes.Equal(o.Out[0].Bytes(), bytes.ToUpper(payload)) || !o.EOF[0] {
		t.Fatalf("end %s, got %d bytes", o.End, o.Out[0].Len())
	}
	if len(o.Controls) != 1 || o.Controls[0]["event"] != "connected" {
		t.Fatalf("controls %v", o.Controls)
	}
}

func TestTCPConnectErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c := startAgent(t, nil)
	if end := c.Unary("tcp.connect", map[string]any{"port": port}); end.Code() != protocol.CodeConnectionRefused {
		t.Fatalf("refused: %s", end)
	}
	if end := c.Unary("tcp.connect", map[string]any{"port": 70000}); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("bad port: %s", end)
	}
	if end := c.Unary("tcp.connect", map[string]any{"host": "127.0.0.1"}); end.Code() != protocol.CodeInvalidArgument || !strings.Contains(end.Error.Message, "port") {
		t.Fatalf("no port: %s", end)
	}
}

func TestTCPCancel(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	closed := make(chan struct{})
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, conn)
		close(closed)
	}()
	c := startAgent(t, nil)
	id := c.Open("tcp.connect", map[string]any{"port": ln.Addr().(*net.TCPAddr).Port})
	if f := c.Next(id); f.Type != protocol.TypeControl {
		t.Fatalf("frame %d", f.Type)
	}
	c.Send(protocol.Frame{Type: protocol.TypeCancel, Stream: id})
	if end := c.Collect(id).End; end.Code() != protocol.CodeCancelled {
		t.Fatalf("end %s", end)
	}
	select {
	case <-closed:
	case <-time.After(agenttest.Timeout):
		t.Fatal("socket not closed on cancel")
	}
}

// After a disconnect in the middle of every kind of stream, all goroutines end.
func TestDisconnectLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, conn)
		}
	}()
	c := startAgent(t, nil)
	c.Open("exec", map[string]any{"argv": []string{"sleep", "60"}, "stdin": true})
	c.Open("exec", map[string]any{"argv": []string{"yes"}})
	c.Open("exec", map[string]any{"argv": []string{"cat"}, "pty": map[string]int{"rows": 5, "cols": 5}})
	c.Open("file.write", map[string]any{"path": t.TempDir() + "/f"})
	c.Open("file.read", map[string]any{"path": "/dev/zero"})
	id := c.Open("tcp.connect", map[string]any{"port": ln.Addr().(*net.TCPAddr).Port})
	c.Next(id) // connected
	time.Sleep(200 * time.Millisecond)
	c.shutdown(t)()
	ln.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
