// Package agenttest is a minimal protocol client for the agent's tests. It decodes
// frames with its own code rather than package protocol's reader, so the tests check
// the codec against a second reading of the spec.
package agenttest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"microvm.dev/guest-agent/protocol"
)

// Timeout bounds every wait of a test on the agent.
const Timeout = 20 * time.Second

// Client talks to an agent over conn, as the host would.
type Client struct {
	t    testing.TB
	conn io.ReadWriteCloser

	wmu sync.Mutex

	mu      sync.Mutex
	credit  *sync.Cond
	sendWin map[uint32]int64 // what the agent lets this client send on channel 0
	streams map[uint32]chan protocol.Frame
	session chan protocol.Frame
	closed  chan struct{}
	nextID  uint32
}

// New starts reading frames from conn.
func New(t testing.TB, conn io.ReadWriteCloser) *Client {
	c := &Client{
		t:       t,
		conn:    conn,
		streams: map[uint32]chan protocol.Frame{},
		sendWin: map[uint32]int64{},
		session: make(chan protocol.Frame, 1024),
		closed:  make(chan struct{}),
		nextID:  1,
	}
	c.credit = sync.NewCond(&c.mu)
	go c.readLoop()
	return c
}

func (c *Client) readLoop() {
	defer close(c.closed)
	br := bufio.NewReader(c.conn)
	synced := false
	for {
		if !synced {
			if err := skipToPreamble(br); err != nil {
				return
			}
			synced = true
		}
		head, err := br.Peek(12)
		if err != nil {
			return
		}
		if bytes.Equal(head[:8], protocol.Preamble) {
			br.Discard(8)
			continue
		}
		br.Discard(12)
		f := protocol.Frame{
			Type:    protocol.FrameType(head[4]),
			Channel: head[5],
			Stream:  binary.BigEndian.Uint32(head[8:12]),
			Payload: make([]byte, binary.BigEndian.Uint32(head[0:4])),
		}
		if _, err := io.ReadFull(br, f.Payload); err != nil {
			return
		}
		if f.Type == protocol.TypeWindow && f.Channel == protocol.ChannelStdin {
			c.mu.Lock()
			c.sendWin[f.Stream] += int64(binary.BigEndian.Uint32(f.Payload))
			c.credit.Broadcast()
			c.mu.Unlock()
		}
		if f.Stream == 0 {
			c.session <- f
		} else {
			c.queue(f.Stream) <- f
		}
	}
}

func skipToPreamble(br *bufio.Reader) error {
	matched := 0
	for matched < len(protocol.Preamble) {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		switch {
		case b == protocol.Preamble[matched]:
			matched++
		case b == protocol.Preamble[0]:
			matched = 1
		default:
			matched = 0
		}
	}
	return nil
}

func (c *Client) queue(id uint32) chan protocol.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.streams[id]
	if q == nil {
		// Large enough for a full window of minimal DATA frames, so that a test that
		// withholds credit never blocks this reader.
		q = make(chan protocol.Frame, 1<<16)
		c.streams[id] = q
	}
	return q
}

// WriteRaw sends bytes as they are.
func (c *Client) WriteRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Errorf("write to agent: %v", err)
	}
}

// Send sends one frame.
func (c *Client) Send(f protocol.Frame) { c.WriteRaw(protocol.AppendFrame(nil, f)) }

// Close closes the transport, as a host that went away.
func (c *Client) Close() { c.conn.Close() }

// Closed is closed when the agent's side of the transport has ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Hello is the agent's HELLO.
type Hello struct {
	Version  int      `json:"version"`
	Agent    string   `json:"agent"`
	Nonce    string   `json:"nonce"`
	Window   uint32   `json:"window"`
	MaxFrame uint32   `json:"maxFrame"`
	MaxData  uint32   `json:"maxData"`
	Ops      []string `json:"ops"`
}

// HelloFrame encodes preamble + client HELLO.
func HelloFrame(versions []int, nonce string) []byte {
	b, _ := json.Marshal(map[string]any{"versions": versions, "client": "agenttest", "nonce": nonce})
	return protocol.AppendFrame(append([]byte(nil), protocol.Preamble...), protocol.Frame{Type: protocol.TypeHello, Payload: b})
}

// Handshake sends preamble + HELLO and waits for the HELLO that echoes nonce,
// skipping anything else on the session channel.
func (c *Client) Handshake(nonce string) Hello {
	c.WriteRaw(HelloFrame([]int{protocol.Version}, nonce))
	for {
		f := c.NextSession()
		if f.Type != protocol.TypeHello {
			continue
		}
		var h Hello
		if err := json.Unmarshal(f.Payload, &h); err != nil {
			c.t.Fatalf("agent HELLO: %v", err)
		}
		if h.Nonce == nonce {
			return h
		}
	}
}

// NextSession returns the next frame on stream 0.
func (c *Client) NextSession() protocol.Frame {
	select {
	case f := <-c.session:
		return f
	case <-time.After(Timeout):
		c.t.Fatalf("timed out waiting for a session frame")
	}
	return protocol.Frame{}
}

// TryNext returns the next frame of stream id, if one comes within wait.
func (c *Client) TryNext(id uint32, wait time.Duration) (protocol.Frame, bool) {
	select {
	case f := <-c.queue(id):
		return f, true
	case <-time.After(wait):
		return protocol.Frame{}, false
	}
}

// ReceiveUntilStalled reads stream id's DATA while granting no credit, until the agent
// goes quiet, and returns how many bytes came. It fails the test if the agent sends a
// DATA frame over maxData, more than one window, or END (it cannot finish without credit).
func (c *Client) ReceiveUntilStalled(id uint32) int {
	received := 0
	for {
		f, ok := c.TryNext(id, 500*time.Millisecond)
		if !ok {
			return received
		}
		switch f.Type {
		case protocol.TypeData:
			if len(f.Payload) > int(protocol.MaxData) {
				c.t.Fatalf("DATA of %d bytes", len(f.Payload))
			}
			received += len(f.Payload)
			if received > int(protocol.InitialWindow) {
				c.t.Fatalf("agent sent %d bytes with a window of %d", received, protocol.InitialWindow)
			}
		case protocol.TypeEnd:
			c.t.Fatalf("stream %d ended without credit: %s", id, f.Payload)
		}
	}
}

// Next returns the next frame of stream id.
func (c *Client) Next(id uint32) protocol.Frame {
	select {
	case f := <-c.queue(id):
		return f
	case <-time.After(Timeout):
		c.t.Fatalf("timed out waiting for a frame on stream %d", id)
	}
	return protocol.Frame{}
}

// Open sends OPEN with op and args on a fresh stream id and returns the id.
func (c *Client) Open(op string, args map[string]any) uint32 {
	req := map[string]any{"op": op}
	for k, v := range args {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.sendWin[id] = int64(protocol.InitialWindow)
	c.mu.Unlock()
	c.Send(protocol.Frame{Type: protocol.TypeOpen, Stream: id, Payload: b})
	return id
}

// SendData sends b as DATA on channel 0, in maxData chunks, within the agent's window.
func (c *Client) SendData(id uint32, b []byte) {
	for len(b) > 0 {
		c.mu.Lock()
		for c.sendWin[id] <= 0 {
			c.credit.Wait()
		}
		n := int64(len(b))
		if n > int64(protocol.MaxData) {
			n = int64(protocol.MaxData)
		}
		if n > c.sendWin[id] {
			n = c.sendWin[id]
		}
		c.sendWin[id] -= n
		c.mu.Unlock()
		c.Send(protocol.Frame{Type: protocol.TypeData, Stream: id, Payload: b[:n]})
		b = b[n:]
	}
}

// SendEOF closes channel 0 of stream id.
func (c *Client) SendEOF(id uint32) { c.Send(protocol.Frame{Type: protocol.TypeEOF, Stream: id}) }

// SendControl sends a CONTROL command.
func (c *Client) SendControl(id uint32, v any) {
	b, _ := json.Marshal(v)
	c.Send(protocol.Frame{Type: protocol.TypeControl, Stream: id, Payload: b})
}

// Credit grants n bytes of window on channel ch.
func (c *Client) Credit(id uint32, ch uint8, n uint32) {
	c.Send(protocol.Frame{Type: protocol.TypeWindow, Stream: id, Channel: ch, Payload: protocol.WindowPayload(n)})
}

// End is an END payload.
type End struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *protocol.Error `json:"error"`
}

// Decode unmarshals the result into v.
func (e End) Decode(t testing.TB, v any) {
	t.Helper()
	if !e.OK {
		t.Fatalf("END is an error: %+v", e.Error)
	}
	if err := json.Unmarshal(e.Result, v); err != nil {
		t.Fatalf("END result %s: %v", e.Result, err)
	}
}

// Code is the error code, or "" for success.
func (e End) Code() protocol.ErrorCode {
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// Outcome is everything a stream sent.
type Outcome struct {
	Out      [2]bytes.Buffer
	EOF      [2]bool
	Controls []map[string]any
	End      End
	Frames   int
}

// Collect reads stream id until END, returning credit for all DATA as it arrives.
func (c *Client) Collect(id uint32) *Outcome {
	o := &Outcome{}
	for {
		f := c.Next(id)
		o.Frames++
		switch f.Type {
		case protocol.TypeData:
			o.Out[f.Channel].Write(f.Payload)
			c.Credit(id, f.Channel, uint32(len(f.Payload)))
		case protocol.TypeEOF:
			o.EOF[f.Channel] = true
		case protocol.TypeControl:
			var m map[string]any
			if err := json.Unmarshal(f.Payload, &m); err != nil {
				c.t.Fatalf("CONTROL %s: %v", f.Payload, err)
			}
			o.Controls = append(o.Controls, m)
		case protocol.TypeWindow:
		case protocol.TypeEnd:
			if err := json.Unmarshal(f.Payload, &o.End); err != nil {
				c.t.Fatalf("END %s: %v", f.Payload, err)
			}
			return o
		default:
			c.t.Fatalf("unexpected frame type %d on stream %d", f.Type, id)
		}
	}
}

// Unary opens op, collects its stream and returns the END.
func (c *Client) Unary(op string, args map[string]any) End {
	return c.Collect(c.Open(op, args)).End
}

// String describes an END for failure messages.
func (e End) String() string {
	if e.OK {
		return fmt.Sprintf("ok %s", e.Result)
	}
	return fmt.Sprintf("error %s: %s", e.Error.Code, e.Error.Message)
}
