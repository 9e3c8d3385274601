package protocol

import (
	"errors"
	"io"
	"time"
)

// FrameStallTimeout is how long a frame may take to arrive once it started. A host
// that died mid-frame, or a restore that left half a frame in the guest's buffers,
// would otherwise make the agent take the next session's preamble and HELLO as payload.
// Hosts write frames whole, so a healthy link never pauses this long inside one.
var FrameStallTimeout = 2 * time.Second

var errStalled = errors.New("frame stalled")

// stallReader reads the transport in its own goroutine, so that a read can give up
// after a timeout while the bytes keep arriving in order for the next read.
type stallReader struct {
	chunks  chan []byte
	err     error
	pending []byte
	// deadline is set while a frame is half read; only then does a read time out. It
	// covers the whole frame, not each read: a new host retrying its HELLO keeps bytes
	// trickling in, and each would otherwise restart the clock.
	deadline time.Time
}

func newStallReader(r io.Reader) *stallReader {
	s := &stallReader{chunks: make(chan []byte, 4)}
	go func() {
		for {
			buf := make([]byte, 64*1024)
			n, err := r.Read(buf)
			if n > 0 {
				s.chunks <- buf[:n]
			}
			if err != nil {
				s.err = err
				close(s.chunks)
				return
			}
		}
	}()
	return s
}

func (s *stallReader) arm()    { s.deadline = time.Now().Add(FrameStallTimeout) }
func (s *stallReader) disarm() { s.deadline = time.Time{} }

func (s *stallReader) Read(p []byte) (int, error) {
	if len(s.pending) == 0 {
		var timeout <-chan time.Time
		if !s.deadline.IsZero() {
			timer := time.NewTimer(time.Until(s.deadline))
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case chunk, ok := <-s.chunks:
			if !ok {
				return 0, s.err
			}
			s.pending = chunk
		case <-timeout:
			return 0, errStalled
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}
