// Package session serves the agent protocol over one transport connection: the hello
// handshake, resynchronisation, the stream table, flow control and the single writer.
package session

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log"
	"runtime/debug"
	"sync"

	"microvm.dev/guest-agent/protocol"
)

// Handler runs one operation. req is the whole OPEN payload; the handler decodes its
// own arguments from it. The returned result becomes END ok; an error becomes END with
// its code if it is a *protocol.Error, else `internal`. ctx ends when the client
// cancels the stream or the session ends.
type Handler func(ctx context.Context, st *Stream, req json.RawMessage) (any, error)

// Config is shared by all sessions of an agent.
type Config struct {
	AgentVersion string
	Handlers     map[string]Handler
	Log          *log.Logger
}

type conn struct {
	cfg Config
	ctx context.Context
	w   *writer
	// readerDone is closed when the transport's read side ended; END frames stop
	// waiting for queue space then, as nobody will read them.
	readerDone chan struct{}

	mu      sync.Mutex
	streams map[uint32]*Stream
	// established is set once this session's HELLO reply went out. Only the reader
	// goroutine uses it.
	established bool
	wg          sync.WaitGroup
}

// Serve runs sessions over rw until its read side ends, then cancels every stream,
// waits for their goroutines and flushes what is left. A clean end of the transport
// returns nil.
func Serve(ctx context.Context, rw io.ReadWriter, cfg Config) error {
	c := &conn{
		cfg:        cfg,
		ctx:        ctx,
		w:          newWriter(rw),
		readerDone: make(chan struct{}),
		streams:    map[uint32]*Stream{},
	}
	err := c.readLoop(protocol.NewReader(rw))
	close(c.readerDone)
	c.endSession()
	c.wg.Wait()
	if werr := c.w.close(); werr != nil {
		return werr
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

func (c *conn) readLoop(r *protocol.Reader) error {
	for {
		f, err := r.Next()
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				return err
			}
			c.fail(r, pe)
			continue
		}
		switch f.Type {
		case protocol.TypeHello:
			c.hello(r, f.Payload)
		case protocol.TypePing:
			c.sendSession(outFrame{frame: protocol.Frame{Type: protocol.TypePong, Payload: f.Payload}})
		case protocol.TypeOpen:
			c.open(r, f.Stream, f.Payload)
		default:
			c.toStream(r, f)
		}
	}
}

// endSession cancels every stream of the current session. Bumping the epoch first
// makes the writer drop whatever those streams still queue.
func (c *conn) endSession() {
	c.established = false
	c.w.epoch.Add(1)
	c.mu.Lock()
	streams := c.streams
	c.streams = map[uint32]*Stream{}
	c.mu.Unlock()
	for _, st := range streams {
		st.cancel()
	}
}

func (c *conn) sendSession(of outFrame) {
	// An error means the transport is gone; the read side will notice too.
	_ = c.w.send(nil, of)
}

// fail handles every session-level error the same way (docs/agent-protocol.md §1): the
// session ends, its streams are cancelled, an ERROR goes out behind a preamble (the
// client may already be searching, and would discard a bare frame) and the reader
// searches for the next preamble.
func (c *conn) fail(r *protocol.Reader, e *protocol.Error) {
	c.cfg.Log.Printf("session error, resynchronising: %s", e)
	c.endSession()
	b, _ := json.Marshal(e)
	c.sendSession(outFrame{frame: protocol.Frame{Type: protocol.TypeError, Payload: b}, preamble: true})
	r.Resync()
}

type clientHello struct {
	Versions []int  `json:"versions"`
	Client   string `json:"client"`
	Nonce    string `json:"nonce"`
}

type agentHello struct {
	Version  int      `json:"version"`
	Agent    string   `json:"agent"`
	Nonce    string   `json:"nonce"`
	Window   uint32   `json:"window"`
	MaxFrame uint32   `json:"maxFrame"`
	MaxData  uint32   `json:"maxData"`
	Ops      []string `json:"ops"`
}

func (c *conn) hello(r *protocol.Reader, payload []byte) {
	c.endSession()
	var h clientHello
	if err := json.Unmarshal(payload, &h); err != nil {
		c.refuse(r, protocol.Errorf(protocol.CodeBadFrame, "malformed HELLO: %v", err))
		return
	}
	supported := false
	for _, v := range h.Versions {
		supported = supported || v == protocol.Version
	}
	if !supported {
		c.refuse(r, protocol.Errorf(protocol.CodeUnsupportedVersion,
			"client offers protocol versions %v; this agent speaks %d", h.Versions, protocol.Version))
		return
	}
	c.cfg.Log.Printf("session started by %q", h.Client)
	b, _ := json.Marshal(agentHello{
		Version:  protocol.Version,
		Agent:    c.cfg.AgentVersion,
		Nonce:    h.Nonce,
		Window:   protocol.InitialWindow,
		MaxFrame: protocol.MaxFrame,
		MaxData:  protocol.MaxData,
		Ops:      c.ops(),
	})
	c.sendSession(outFrame{frame: protocol.Frame{Type: protocol.TypeHello, Payload: b}, preamble: true})
	c.established = true
}

func (c *conn) refuse(r *protocol.Reader, e *protocol.Error) {
	c.fail(r, e)
}

// ops lists the operations this build can serve, in the spec's order.
func (c *conn) ops() []string {
	ops := []string{}
	for _, op := range protocol.Ops {
		if c.cfg.Handlers[op] != nil {
			ops = append(ops, op)
		}
	}
	return ops
}

func (c *conn) open(r *protocol.Reader, id uint32, payload []byte) {
	c.mu.Lock()
	_, inUse := c.streams[id]
	c.mu.Unlock()
	if inUse {
		c.fail(r, protocol.Errorf(protocol.CodeStreamInUse, "stream %d is still open", id))
		return
	}
	var req struct {
		Op *string `json:"op"`
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		c.rejectOpen(id, protocol.Errorf(protocol.CodeInvalidArgument, "malformed OPEN request: %v", err))
		return
	}
	if req.Op == nil {
		c.rejectOpen(id, protocol.Errorf(protocol.CodeInvalidArgument, "missing field: op"))
		return
	}
	h := c.cfg.Handlers[*req.Op]
	if h == nil {
		c.rejectOpen(id, protocol.Errorf(protocol.CodeUnknownOperation, "unknown operation: %q", *req.Op))
		return
	}
	st := newStream(c, id, c.w.epoch.Load())
	c.mu.Lock()
	c.streams[id] = st
	c.mu.Unlock()
	c.wg.Add(1)
	go c.run(st, *req.Op, h, payload)
}

func (c *conn) rejectOpen(id uint32, e *protocol.Error) {
	c.sendEnd(id, c.w.epoch.Load(), endPayload(nil, e), nil)
}

func (c *conn) toStream(r *protocol.Reader, f protocol.Frame) {
	c.mu.Lock()
	st := c.streams[f.Stream]
	c.mu.Unlock()
	if st == nil {
		return
	}
	switch f.Type {
	case protocol.TypeData:
		if e := st.deliver(Input{Kind: InputData, Channel: f.Channel, Data: f.Payload}); e != nil {
			c.fail(r, e)
		}
	case protocol.TypeEOF:
		_ = st.deliver(Input{Kind: InputEOF, Channel: f.Channel})
	case protocol.TypeControl:
		_ = st.deliver(Input{Kind: InputControl, Control: f.Payload})
	case protocol.TypeWindow:
		st.send[f.Channel].add(int64(binary.BigEndian.Uint32(f.Payload)))
	case protocol.TypeCancel:
		st.abort(protocol.Errorf(protocol.CodeCancelled, "stream %d cancelled by the client", f.Stream))
	}
}

type endMsg struct {
	OK     bool            `json:"ok"`
	Result any             `json:"result,omitempty"`
	Error  *protocol.Error `json:"error,omitempty"`
}

func endPayload(result any, e *protocol.Error) []byte {
	m := endMsg{OK: e == nil, Error: e}
	if e == nil {
		m.Result = result
		if result == nil {
			m.Result = struct{}{}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(endMsg{Error: protocol.Errorf(protocol.CodeInternal, "cannot encode result: %v", err)})
	}
	return b
}

func (c *conn) run(st *Stream, op string, h Handler, payload []byte) {
	defer c.wg.Done()
	defer st.cancel()
	result, err := c.call(st, op, h, payload)
	e := st.aborted()
	if e == nil && err != nil {
		if !errors.As(err, &e) {
			e = protocol.Errorf(protocol.CodeInternal, "%s: %v", op, err)
		}
	}
	// The id must be free before the client can see END and reuse it.
	c.mu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	after := st.afterEnd
	c.mu.Unlock()
	if e != nil {
		if e.Code == protocol.CodeInternal {
			c.cfg.Log.Printf("stream %d (%s): %s", st.id, op, e.Message)
		}
		after = nil
	}
	var done chan struct{}
	if after != nil {
		done = make(chan struct{})
	}
	if c.sendEnd(st.id, st.epoch, endPayload(result, e), done) && after != nil {
		<-done
		after()
	}
}

func (c *conn) call(st *Stream, op string, h Handler, payload []byte) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.cfg.Log.Printf("stream %d (%s) panicked: %v\n%s", st.id, op, p, debug.Stack())
			result, err = nil, protocol.Errorf(protocol.CodeInternal, "%s failed: %v", op, p)
		}
	}()
	return h(st.ctx, st, payload)
}

func (c *conn) sendEnd(id uint32, epoch uint64, payload []byte, done chan struct{}) bool {
	err := c.w.send(c.readerDone, outFrame{
		frame: protocol.Frame{Type: protocol.TypeEnd, Stream: id, Payload: payload},
		epoch: epoch,
		done:  done,
	})
	return err == nil
}
