package session

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"microvm.dev/guest-agent/protocol"
)

// InputKind tells what a client frame delivered to a stream carries.
type InputKind int

const (
	InputData InputKind = iota
	InputEOF
	InputControl
)

// Input is one client frame for a stream, in arrival order.
type Input struct {
	Kind    InputKind
	Channel uint8
	Data    []byte
	Control json.RawMessage
}

// Stream is one OPEN…END exchange, as seen by an operation handler.
type Stream struct {
	id     uint32
	conn   *conn
	epoch  uint64
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// abortErr replaces the handler's outcome once the client cancelled the stream or
	// broke its flow control.
	abortErr *protocol.Error
	recv     [2]int64
	data     inbox
	control  inbox
	afterEnd func()

	send [2]*window
}

func newStream(c *conn, id uint32, epoch uint64) *Stream {
	ctx, cancel := context.WithCancel(c.ctx)
	return &Stream{
		id:      id,
		conn:    c,
		epoch:   epoch,
		ctx:     ctx,
		cancel:  cancel,
		recv:    [2]int64{int64(protocol.InitialWindow), int64(protocol.InitialWindow)},
		data:    newInbox(),
		control: newInbox(),
		send:    [2]*window{newWindow(protocol.InitialWindow), newWindow(protocol.InitialWindow)},
	}
}

// ID is the client's stream id, for log lines.
func (s *Stream) ID() uint32 { return s.id }

func (s *Stream) abort(e *protocol.Error) {
	s.mu.Lock()
	if s.abortErr == nil {
		s.abortErr = e
	}
	s.mu.Unlock()
	s.cancel()
}

func (s *Stream) aborted() *protocol.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abortErr
}

// inbox is an unbounded queue of client frames. It never blocks the session's reader,
// which must keep serving other streams; DATA in it is bounded by the receive window,
// and CONTROL frames are few and small.
type inbox struct {
	items []Input
	sig   chan struct{}
}

func newInbox() inbox { return inbox{sig: make(chan struct{}, 1)} }

// deliver queues a client DATA/EOF/CONTROL frame, checking DATA against the window.
func (s *Stream) deliver(in Input) *protocol.Error {
	s.mu.Lock()
	q := &s.data
	switch in.Kind {
	case InputData:
		n := int64(len(in.Data))
		if n > s.recv[in.Channel] {
			s.mu.Unlock()
			return protocol.Errorf(protocol.CodeFlowControl,
				"stream %d: %d bytes of DATA on channel %d exceed the remaining window of %d", s.id, n, in.Channel, s.recv[in.Channel])
		}
		s.recv[in.Channel] -= n
	case InputControl:
		q = &s.control
	}
	q.items = append(q.items, in)
	s.mu.Unlock()
	select {
	case q.sig <- struct{}{}:
	default:
	}
	return nil
}

// RecvData returns the next DATA or EOF from the client. It fails once the stream is
// cancelled.
func (s *Stream) RecvData() (Input, error) { return s.recv1(&s.data) }

// RecvControl returns the next CONTROL from the client. It is separate from RecvData
// so that a command such as a signal is not stuck behind input that a process is not
// reading.
func (s *Stream) RecvControl() (json.RawMessage, error) {
	in, err := s.recv1(&s.control)
	return in.Control, err
}

func (s *Stream) recv1(q *inbox) (Input, error) {
	for {
		s.mu.Lock()
		if len(q.items) > 0 {
			in := q.items[0]
			q.items[0] = Input{}
			q.items = q.items[1:]
			s.mu.Unlock()
			return in, nil
		}
		s.mu.Unlock()
		select {
		case <-q.sig:
		case <-s.ctx.Done():
			return Input{}, s.ctx.Err()
		}
	}
}

// Consumed returns n bytes of credit on channel ch to the client: call it once the
// bytes have left the agent's hands (written to a process, a file or a socket).
func (s *Stream) Consumed(ch uint8, n int) error {
	if n <= 0 {
		return nil
	}
	s.mu.Lock()
	s.recv[ch] += int64(n)
	s.mu.Unlock()
	return s.sendFrame(protocol.Frame{Type: protocol.TypeWindow, Channel: ch, Payload: protocol.WindowPayload(uint32(n))})
}

func (s *Stream) sendFrame(f protocol.Frame) error {
	f.Stream = s.id
	if err := s.conn.w.send(s.ctx.Done(), outFrame{frame: f, epoch: s.epoch}); err != nil {
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		return err
	}
	return nil
}

// Control sends a CONTROL event.
func (s *Stream) Control(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.sendFrame(protocol.Frame{Type: protocol.TypeControl, Payload: b})
}

// CloseChannel sends EOF on ch: no more DATA will follow on it.
func (s *Stream) CloseChannel(ch uint8) error {
	return s.sendFrame(protocol.Frame{Type: protocol.TypeEOF, Channel: ch})
}

// CopyFrom sends what r yields as DATA on ch. It reads only when the client has given
// credit, and never more than the credit or maxData at once, so a fast producer blocks
// (on its pipe, file or socket) instead of filling memory. It returns the bytes sent
// and nil at io.EOF.
func (s *Stream) CopyFrom(ch uint8, r io.Reader) (int64, error) {
	var total int64
	for {
		n, err := s.send[ch].acquire(s.ctx, int(protocol.MaxData))
		if err != nil {
			return total, err
		}
		buf := make([]byte, n)
		got, rerr := r.Read(buf)
		s.send[ch].add(int64(n - got))
		if got > 0 {
			if err := s.sendFrame(protocol.Frame{Type: protocol.TypeData, Channel: ch, Payload: buf[:got]}); err != nil {
				return total, err
			}
			total += int64(got)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return total, nil
			}
			return total, rerr
		}
	}
}

// AfterEnd registers fn to run once a successful END has been flushed to the
// transport: for actions (power off) after which no reply could be sent.
func (s *Stream) AfterEnd(fn func()) {
	s.mu.Lock()
	s.afterEnd = fn
	s.mu.Unlock()
}
