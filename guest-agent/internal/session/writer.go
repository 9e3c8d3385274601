package session

import (
	"bufio"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"microvm.dev/guest-agent/protocol"
)

var errTransportClosed = errors.New("transport closed")

// ErrWriterStuck means the transport accepted no bytes for a long time after the
// session ended; the caller must close it before serving another session on it, or two
// writers would interleave.
var ErrWriterStuck = errors.New("transport write did not complete after the session ended")

type outFrame struct {
	frame    protocol.Frame
	preamble bool
	// epoch ties a stream's frames to the session that opened the stream; frames of an
	// ended session are dropped so they can never reach the client's next session.
	// Zero marks session frames, which are always sent.
	epoch uint64
	// done, if set, is closed once the frame has been flushed to the transport (or
	// dropped), for callers that must act only after the client can see the frame.
	done chan struct{}
}

// writer is the only goroutine that writes to the transport, so frames are never
// interleaved and a slow transport blocks senders instead of growing buffers.
type writer struct {
	bw     *bufio.Writer
	queue  chan outFrame
	epoch  atomic.Uint64
	dead   chan struct{}
	stop   chan struct{}
	exited chan struct{}
}

func newWriter(w io.Writer) *writer {
	wr := &writer{
		bw:     bufio.NewWriterSize(w, 64*1024),
		queue:  make(chan outFrame, 64),
		dead:   make(chan struct{}),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	wr.epoch.Store(1)
	go wr.run()
	return wr
}

func (w *writer) run() {
	defer close(w.exited)
	for {
		select {
		case of := <-w.queue:
			w.write(of)
		case <-w.stop:
			for {
				select {
				case of := <-w.queue:
					w.write(of)
				default:
					w.flush()
					return
				}
			}
		}
		if len(w.queue) == 0 {
			w.flush()
		}
	}
}

func (w *writer) isDead() bool {
	select {
	case <-w.dead:
		return true
	default:
		return false
	}
}

func (w *writer) write(of outFrame) {
	if of.done != nil {
		defer close(of.done)
	}
	if w.isDead() || (of.epoch != 0 && of.epoch != w.epoch.Load()) {
		return
	}
	if of.preamble {
		if _, err := w.bw.Write(protocol.Preamble); err != nil {
			w.fail()
			return
		}
	}
	h := protocol.Header(of.frame)
	if _, err := w.bw.Write(h[:]); err != nil {
		w.fail()
		return
	}
	if _, err := w.bw.Write(of.frame.Payload); err != nil {
		w.fail()
		return
	}
	if of.done != nil {
		w.flush()
	}
}

func (w *writer) flush() {
	if w.isDead() {
		return
	}
	if err := w.bw.Flush(); err != nil {
		w.fail()
	}
}

func (w *writer) fail() {
	if !w.isDead() {
		close(w.dead)
	}
}

// send queues a frame. It fails if the transport is gone or cancel is closed first.
func (w *writer) send(cancel <-chan struct{}, of outFrame) error {
	select {
	case w.queue <- of:
		return nil
	case <-w.dead:
		return errTransportClosed
	case <-cancel:
		return errTransportClosed
	}
}

// close writes what is queued and stops the goroutine. Senders must be gone.
func (w *writer) close() error {
	close(w.stop)
	select {
	case <-w.exited:
		return nil
	case <-time.After(2 * time.Second):
		return ErrWriterStuck
	}
}
