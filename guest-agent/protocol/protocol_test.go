package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
	"time"
)

// The Go names must keep meaning what constants.json says.
func TestConstantsMatchJSON(t *testing.T) {
	raw, err := os.ReadFile("constants.json")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Version       int
		Preamble      string
		MaxFrame      uint32
		MaxData       uint32
		InitialWindow uint32
		VsockPort     uint32
		FrameTypes    map[string]FrameType
		Channels      map[string]uint8
		Ops           []string
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if Version != c.Version || string(Preamble) != c.Preamble || MaxFrame != c.MaxFrame || MaxData != c.MaxData ||
		InitialWindow != c.InitialWindow || VsockPort != c.VsockPort || len(Ops) != len(c.Ops) {
		t.Fatal("limits differ from constants.json")
	}
	types := map[string]FrameType{
		"HELLO": TypeHello, "OPEN": TypeOpen, "DATA": TypeData, "EOF": TypeEOF, "WINDOW": TypeWindow,
		"CONTROL": TypeControl, "END": TypeEnd, "CANCEL": TypeCancel, "PING": TypePing, "PONG": TypePong, "ERROR": TypeError,
	}
	if len(types) != len(c.FrameTypes) {
		t.Fatalf("constants.json has %d frame types, Go names %d", len(c.FrameTypes), len(types))
	}
	for name, v := range types {
		if c.FrameTypes[name] != v {
			t.Errorf("%s = %d, json %d", name, v, c.FrameTypes[name])
		}
	}
	if ChannelStdout != c.Channels["stdout"] || ChannelStderr != c.Channels["stderr"] || ChannelStdin != c.Channels["stdin"] {
		t.Error("channels differ")
	}
	if HeaderSize != 12 || binaryLen(Preamble) != 0x4D564D41 || 0x4D564D41 <= MaxFrame {
		t.Error("a preamble read as a header must always be too large")
	}
}

func binaryLen(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func frames(fs ...Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = AppendFrame(b, f)
	}
	return b
}

func session(fs ...Frame) []byte {
	return append(append([]byte(nil), Preamble...), frames(append([]Frame{{Type: TypeHello, Payload: []byte("{}")}}, fs...)...)...)
}

func readAll(t *testing.T, r *Reader) ([]Frame, []ErrorCode) {
	t.Helper()
	var fs []Frame
	var codes []ErrorCode
	for {
		f, err := r.Next()
		var pe *Error
		switch {
		case errors.As(err, &pe):
			codes = append(codes, pe.Code)
		case err == io.EOF:
			return fs, codes
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			fs = append(fs, f)
		}
	}
}

func TestEncodeHeader(t *testing.T) {
	got := AppendFrame(nil, Frame{Type: TypeData, Channel: 1, Stream: 0x01020304, Payload: []byte("hi")})
	want := []byte{0, 0, 0, 2, 3, 1, 0, 0, 1, 2, 3, 4, 'h', 'i'}
	if !bytes.Equal(got, want) {
		t.Fatalf("% x", got)
	}
}

func TestReaderRoundTripOneByteAtATime(t *testing.T) {
	// A megabyte one byte per read is slow on a loaded machine; this test is about
	// parsing split reads, not about the stall timeout, which has tests of its own.
	defer func(previous time.Duration) { FrameStallTimeout = previous }(FrameStallTimeout)
	FrameStallTimeout = time.Minute
	in := append([]byte("noise MVMAGEN MV"), session(
		Frame{Type: TypeOpen, Stream: 1, Payload: []byte(`{"op":"info"}`)},
		Frame{Type: TypeData, Stream: 1, Channel: 1, Payload: bytes.Repeat([]byte{7}, int(MaxData))},
		Frame{Type: TypeWindow, Stream: 1, Payload: WindowPayload(5)},
		Frame{Type: TypeEOF, Stream: 1},
	)...)
	fs, codes := readAll(t, NewReader(iotest.OneByteReader(bytes.NewReader(in))))
	if len(codes) != 0 || len(fs) != 5 || fs[0].Type != TypeHello || fs[2].Channel != 1 || len(fs[2].Payload) != int(MaxData) {
		t.Fatalf("frames %d codes %v", len(fs), codes)
	}
}

func TestReaderDiscardsUntilPreamble(t *testing.T) {
	// Frames without a preamble are garbage to a reader that is searching.
	in := append(frames(Frame{Type: TypeHello}), session()...)
	fs, codes := readAll(t, NewReader(bytes.NewReader(in)))
	if len(fs) != 1 || len(codes) != 0 {
		t.Fatalf("frames %d codes %v", len(fs), codes)
	}
}

func TestReaderResyncsFromOffendingHeader(t *testing.T) {
	// A bad header whose own bytes start a new session: the search must begin at its
	// first byte, not after it. Here the "header" is the preamble itself.
	in := append(session(), session(Frame{Type: TypePing, Payload: []byte("x")})...)
	fs, codes := readAll(t, NewReader(bytes.NewReader(in)))
	if len(codes) != 1 || codes[0] != CodeFrameTooLarge || len(fs) != 3 || fs[2].Type != TypePing {
		t.Fatalf("frames %v codes %v", fs, codes)
	}
}

func TestReaderRejectsOversizedWithoutReadingIt(t *testing.T) {
	// A 4 GiB length followed by only a few bytes: the reader must not wait for, or
	// allocate, the payload.
	in := append(session(), []byte{0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 1}...)
	in = append(in, session()...)
	fs, codes := readAll(t, NewReader(bytes.NewReader(in)))
	if len(codes) != 1 || codes[0] != CodeFrameTooLarge || len(fs) != 2 {
		t.Fatalf("frames %d codes %v", len(fs), codes)
	}
}

func TestReaderFramingErrors(t *testing.T) {
	cases := map[string][]byte{
		"unknown type":   frames(Frame{Type: 0x33}),
		"reserved":       {0, 0, 0, 0, 9, 0, 1, 0, 0, 0, 0, 0},
		"data too long":  {0, 1, 0, 1, 3, 0, 0, 0, 0, 0, 0, 1},
		"bad channel":    frames(Frame{Type: TypeData, Channel: 2, Stream: 1}),
		"stream 0 data":  frames(Frame{Type: TypeData}),
		"window size":    frames(Frame{Type: TypeWindow, Stream: 1, Payload: []byte{1, 2}}),
		"eof payload":    frames(Frame{Type: TypeEOF, Stream: 1, Payload: []byte{1}}),
		"ping too long":  frames(Frame{Type: TypePing, Payload: make([]byte, MaxPing+1)}),
		"agent-only END": frames(Frame{Type: TypeEnd, Stream: 1}),
	}
	for name, bad := range cases {
		in := append(session(), bad...)
		fs, codes := readAll(t, NewReader(bytes.NewReader(in)))
		if len(fs) != 1 || len(codes) != 1 || codes[0] != CodeBadFrame {
			t.Errorf("%s: frames %d codes %v", name, len(fs), codes)
		}
	}
}

func TestReaderWantsHelloFirst(t *testing.T) {
	in := append(append([]byte(nil), Preamble...), frames(Frame{Type: TypePing})...)
	_, codes := readAll(t, NewReader(bytes.NewReader(in)))
	if len(codes) != 1 || codes[0] != CodeBadFrame {
		t.Fatalf("codes %v", codes)
	}
}

func TestReaderTruncatedFrame(t *testing.T) {
	in := session(Frame{Type: TypeData, Stream: 1, Payload: []byte("abcdef")})
	r := NewReader(bytes.NewReader(in[:len(in)-2]))
	r.Next()
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("err %v", err)
	}
}

// A host that vanished mid-frame leaves the agent waiting for bytes that will never
// come; the next host's preamble and HELLO arrive as that frame's payload (or header).
// After FrameStallTimeout the agent must give the frame up and find the new session.
func TestReaderAbandonsAStalledFrame(t *testing.T) {
	defer func(d time.Duration) { FrameStallTimeout = d }(FrameStallTimeout)
	FrameStallTimeout = 100 * time.Millisecond

	partialPayload := frames(Frame{Type: TypeOpen, Stream: 7, Payload: bytes.Repeat([]byte("x"), 1000)})[:HeaderSize+5]
	partialHeader := frames(Frame{Type: TypeOpen, Stream: 7, Payload: []byte("{}")})[:7]
	for name, partial := range map[string][]byte{"payload": partialPayload, "header": partialHeader} {
		t.Run(name, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				pw.Write(session())
				pw.Write(partial)
				// The new host's session, then its retries, more often than the stall
				// timeout, as a client waiting for its HELLO reply sends them.
				pw.Write(session(Frame{Type: TypePing, Payload: []byte("new")}))
				for i := 0; i < 6; i++ {
					time.Sleep(FrameStallTimeout / 2)
					pw.Write(frames(Frame{Type: TypePing, Payload: []byte("retry")}))
				}
				pw.Close()
			}()
			fs, codes := readAll(t, NewReader(pr))
			if len(codes) != 1 || codes[0] != CodeBadFrame {
				t.Fatalf("codes %v", codes)
			}
			if len(fs) < 3 || fs[1].Type != TypeHello || fs[2].Type != TypePing || string(fs[2].Payload) != "new" {
				t.Fatalf("frames %+v", fs)
			}
		})
	}
}
