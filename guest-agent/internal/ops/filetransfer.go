package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"

	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

type writeResult struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// fileSink is where file.write puts the content: the target itself, or a temporary
// file beside it that replaces the target only once complete.
type fileSink struct {
	f       *os.File
	target  string
	atomic  bool
	mode    fs.FileMode
	setMode bool
	hash    hash.Hash
	size    int64
}

func (a *Agent) fileWrite(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Path   *string `json:"path"`
		Mode   *uint32 `json:"mode"`
		Mkdirs bool    `json:"mkdirs"`
		Atomic *bool   `json:"atomic"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	p, err := checkPath("path", r.Path)
	if err != nil {
		return nil, err
	}
	sink, err := openSink(p, r.Mode, r.Mkdirs, r.Atomic == nil || *r.Atomic)
	if err != nil {
		return nil, err
	}
	if err := sink.receive(st); err != nil {
		sink.abandon()
		return nil, err
	}
	if err := sink.commit(); err != nil {
		return nil, err
	}
	return writeResult{Size: sink.size, SHA256: hex.EncodeToString(sink.hash.Sum(nil))}, nil
}

func openSink(p string, mode *uint32, mkdirs, atomic bool) (*fileSink, error) {
	s := &fileSink{target: p, atomic: atomic, mode: 0o644, hash: sha256.New()}
	if mode != nil {
		s.mode = fs.FileMode(*mode & 0o777)
	}
	if mkdirs {
		if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
			return nil, fsError(err, path.Dir(p))
		}
	}
	existing, err := os.Stat(p)
	if err == nil && existing.IsDir() {
		return nil, protocol.Errorf(protocol.CodeIsDirectory, "%s is a directory", p)
	}
	if atomic {
		s.setMode = true
		s.f, err = os.CreateTemp(path.Dir(p), "."+path.Base(p)+".tmp-*")
	} else {
		// Writing in place keeps an existing file's mode unless the client set one.
		s.setMode = existing == nil || mode != nil
		s.f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, s.mode)
	}
	if err != nil {
		return nil, fsError(err, p)
	}
	return s, nil
}

func (s *fileSink) receive(st *session.Stream) error {
	for {
		in, err := st.RecvData()
		if err != nil {
			return err
		}
		if in.Kind == session.InputEOF {
			if in.Channel == protocol.ChannelStdin {
				return nil
			}
			continue
		}
		if in.Channel == protocol.ChannelStdin {
			if _, err := s.f.Write(in.Data); err != nil {
				return fsError(err, s.target)
			}
			s.hash.Write(in.Data)
			s.size += int64(len(in.Data))
		}
		if err := st.Consumed(in.Channel, len(in.Data)); err != nil {
			return err
		}
	}
}

func (s *fileSink) commit() error {
	if s.atomic {
		if err := s.f.Sync(); err != nil {
			s.abandon()
			return fsError(err, s.target)
		}
	}
	if s.setMode {
		// Explicitly, because the umask narrowed the mode at creation.
		if err := s.f.Chmod(s.mode); err != nil {
			s.abandon()
			return fsError(err, s.target)
		}
	}
	if err := s.f.Close(); err != nil {
		s.abandon()
		return fsError(err, s.target)
	}
	if s.atomic {
		if err := os.Rename(s.f.Name(), s.target); err != nil {
			os.Remove(s.f.Name())
			return fsError(err, s.target)
		}
	}
	return nil
}

// abandon drops a partial temporary file; a non-atomic write leaves what it wrote, as
// writing in place promises nothing more.
func (s *fileSink) abandon() {
	s.f.Close()
	if s.atomic {
		os.Remove(s.f.Name())
	}
}

func (a *Agent) fileRead(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Path   *string `json:"path"`
		Offset int64   `json:"offset"`
		Length *int64  `json:"length"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	p, err := checkPath("path", r.Path)
	if err != nil {
		return nil, err
	}
	if r.Offset < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field offset must not be negative")
	}
	if r.Length != nil && *r.Length < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field length must not be negative")
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fsError(err, p)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fsError(err, p)
	} else if fi.IsDir() {
		return nil, protocol.Errorf(protocol.CodeIsDirectory, "%s is a directory", p)
	}
	if r.Offset > 0 {
		if _, err := f.Seek(r.Offset, io.SeekStart); err != nil {
			return nil, fsError(err, p)
		}
	}
	var src io.Reader = f
	if r.Length != nil {
		src = io.LimitReader(f, *r.Length)
	}
	// A FIFO or device can block a read forever; closing the file ends it on cancel.
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	n, err := st.CopyFrom(protocol.ChannelStdout, src)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fsError(err, p)
	}
	if err := st.CloseChannel(protocol.ChannelStdout); err != nil {
		return nil, err
	}
	return struct {
		Size int64 `json:"size"`
	}{n}, nil
}
