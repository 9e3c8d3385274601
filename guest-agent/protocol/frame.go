package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// Frame is one decoded frame. Channel is only meaningful for DATA, EOF and WINDOW.
type Frame struct {
	Type    FrameType
	Channel uint8
	Stream  uint32
	Payload []byte
}

// Header encodes the 12-byte header of f.
func Header(f Frame) [12]byte {
	var h [12]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(len(f.Payload)))
	h[4] = byte(f.Type)
	h[5] = f.Channel
	binary.BigEndian.PutUint32(h[8:12], f.Stream)
	return h
}

// AppendFrame appends the encoded header and payload of f to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	h := Header(f)
	dst = append(dst, h[:]...)
	return append(dst, f.Payload...)
}

// WindowPayload encodes a WINDOW credit.
func WindowPayload(credit uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], credit)
	return b[:]
}

// Reader decodes frames from a byte stream that may start with, or fall back into,
// garbage: it only yields frames that follow a preamble.
type Reader struct {
	br        *bufio.Reader
	stall     *stallReader
	searching bool
	// helloNext is set right after a preamble: the session must open with HELLO.
	helloNext bool
}

// NewReader returns a Reader that starts in the searching state.
func NewReader(r io.Reader) *Reader {
	// The buffer holds a header plus some lookahead; payloads are read into their own
	// slices so a hostile length never makes the buffer grow.
	stall := newStallReader(r)
	return &Reader{br: bufio.NewReaderSize(stall, readBufferSize), stall: stall, searching: true}
}

// Resync drops the current session so the next Next call searches for a preamble.
func (r *Reader) Resync() { r.searching = true }

// Next returns the next frame, searching for a preamble first if needed. A framing error
// is returned as *Error and leaves the reader searching; any other error comes from
// the underlying stream (io.EOF when it ended between frames).
func (r *Reader) Next() (Frame, error) {
	if r.searching {
		if err := r.seekPreamble(); err != nil {
			return Frame{}, err
		}
		r.searching = false
		r.helloNext = true
	}
	hdr, err := r.peekHeader()
	if err != nil {
		return Frame{}, err
	}
	f, length, ferr := r.checkHeader(hdr)
	if ferr != nil {
		// The header bytes stay buffered, so the search starts at its first byte.
		r.searching = true
		return Frame{}, ferr
	}
	if _, err := r.br.Discard(HeaderSize); err != nil {
		return Frame{}, err
	}
	r.helloNext = false
	if length > 0 {
		f.Payload = make([]byte, length)
		r.stall.arm()
		n, err := io.ReadFull(r.br, f.Payload)
		r.stall.disarm()
		if errors.Is(err, errStalled) {
			return Frame{}, r.abandonPayload(f.Payload[:n])
		}
		if err != nil {
			return Frame{}, eofAsUnexpected(err, 1)
		}
	}
	return f, nil
}

const readBufferSize = 64 * 1024

// peekHeader waits for a whole header; once its first byte is in, the rest may not stall.
func (r *Reader) peekHeader() ([]byte, error) {
	if _, err := r.br.Peek(1); err != nil {
		return nil, err
	}
	r.stall.arm()
	hdr, err := r.br.Peek(HeaderSize)
	r.stall.disarm()
	if errors.Is(err, errStalled) {
		// The partial header is still buffered: search again from its second byte.
		got := r.br.Buffered()
		_, _ = r.br.Discard(1)
		r.searching = true
		return nil, stalledError(got)
	}
	return hdr, eofAsUnexpected(err, len(hdr))
}

// abandonPayload gives up a frame whose payload stopped arriving and searches again
// from the payload's first byte, over the bytes already taken for it: the next
// session's preamble may be among them.
func (r *Reader) abandonPayload(taken []byte) *Error {
	r.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(taken), r.br), readBufferSize)
	r.searching = true
	return stalledError(HeaderSize + len(taken))
}

func stalledError(got int) *Error {
	return Errorf(CodeBadFrame, "a frame stopped arriving after %d bytes for %s", got, FrameStallTimeout)
}

// A stream that ends inside a frame ended uncleanly; one that ends between frames did not.
func eofAsUnexpected(err error, got int) error {
	if err == io.EOF && got > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) checkHeader(h []byte) (Frame, uint32, *Error) {
	length := binary.BigEndian.Uint32(h[0:4])
	f := Frame{Type: FrameType(h[4]), Channel: h[5], Stream: binary.BigEndian.Uint32(h[8:12])}
	if length > MaxFrame {
		return f, 0, Errorf(CodeFrameTooLarge, "frame length %d exceeds maxFrame %d", length, MaxFrame)
	}
	if h[6] != 0 || h[7] != 0 {
		return f, 0, Errorf(CodeBadFrame, "reserved header bits are not zero")
	}
	if r.helloNext && f.Type != TypeHello {
		return f, 0, Errorf(CodeBadFrame, "the first frame after the preamble must be HELLO, got type 0x%02x", byte(f.Type))
	}
	switch f.Type {
	case TypeHello:
	case TypePing:
		if length > MaxPing {
			return f, 0, Errorf(CodeBadFrame, "PING payload of %d bytes exceeds %d", length, MaxPing)
		}
	case TypeOpen, TypeControl:
		if f.Stream == 0 {
			return f, 0, Errorf(CodeBadFrame, "frame type 0x%02x needs a non-zero stream id", byte(f.Type))
		}
	case TypeData, TypeEOF, TypeWindow, TypeCancel:
		if f.Stream == 0 {
			return f, 0, Errorf(CodeBadFrame, "frame type 0x%02x needs a non-zero stream id", byte(f.Type))
		}
		if f.Type != TypeCancel && f.Channel != ChannelStdout && f.Channel != ChannelStderr {
			return f, 0, Errorf(CodeBadFrame, "unknown channel %d", f.Channel)
		}
		if e := checkFixedLength(f.Type, length); e != nil {
			return f, 0, e
		}
	default:
		return f, 0, Errorf(CodeBadFrame, "unknown frame type 0x%02x", byte(f.Type))
	}
	return f, length, nil
}

func checkFixedLength(t FrameType, length uint32) *Error {
	switch {
	case t == TypeData && length > MaxData:
		return Errorf(CodeBadFrame, "DATA payload of %d bytes exceeds maxData %d", length, MaxData)
	case t == TypeWindow && length != 4:
		return Errorf(CodeBadFrame, "WINDOW payload must be 4 bytes, got %d", length)
	case (t == TypeEOF || t == TypeCancel) && length != 0:
		return Errorf(CodeBadFrame, "frame type 0x%02x must be empty, got %d bytes", byte(t), length)
	}
	return nil
}

// seekPreamble discards bytes up to and including the next preamble.
func (r *Reader) seekPreamble() error {
	n := len(Preamble)
	for {
		buf, err := r.br.Peek(r.br.Buffered())
		if len(buf) < n {
			if _, err = r.br.Peek(n); err != nil {
				return err
			}
			continue
		}
		if i := bytes.Index(buf, Preamble); i >= 0 {
			_, err = r.br.Discard(i + n)
			return err
		}
		// Keep the tail that could be the start of a preamble split across reads.
		if _, err = r.br.Discard(len(buf) - (n - 1)); err != nil {
			return err
		}
		if _, err = r.br.Peek(n); err != nil {
			return err
		}
	}
}
