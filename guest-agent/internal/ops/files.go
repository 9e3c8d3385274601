package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"

	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

// FileInfo is the protocol's description of a directory entry (lstat, so links are
// reported, not followed).
type FileInfo struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	Mode       uint32 `json:"mode"`
	MtimeMs    int64  `json:"mtimeMs"`
	LinkTarget string `json:"linkTarget,omitempty"`
}

func fileInfo(p string, fi fs.FileInfo) FileInfo {
	info := FileInfo{
		Name:    fi.Name(),
		Path:    p,
		Type:    "other",
		Size:    fi.Size(),
		Mode:    permBits(fi.Mode()),
		MtimeMs: fi.ModTime().UnixMilli(),
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		info.Type = "file"
	case m.IsDir():
		info.Type = "dir"
	case m&fs.ModeSymlink != 0:
		info.Type = "symlink"
		info.LinkTarget, _ = os.Readlink(p)
	}
	return info
}

// permBits is the Unix permission part of a mode (rwx plus setuid, setgid, sticky),
// which Go keeps in separate flag bits.
func permBits(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}

func lstatInfo(p string) (FileInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return FileInfo{}, fsError(err, p)
	}
	return fileInfo(p, fi), nil
}

type pathRequest struct {
	Path *string `json:"path"`
}

func (a *Agent) fileStat(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r pathRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	p, err := checkPath("path", r.Path)
	if err != nil {
		return nil, err
	}
	return lstatInfo(p)
}

func (a *Agent) fileList(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r pathRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	dir, err := checkPath("path", r.Path)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fsError(err, dir)
	}
	out := struct {
		Entries []FileInfo `json:"entries"`
	}{Entries: make([]FileInfo, 0, len(ents))}
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the directory was read
		}
		if err != nil {
			return nil, fsError(err, path.Join(dir, e.Name()))
		}
		out.Entries = append(out.Entries, fileInfo(path.Join(dir, e.Name()), fi))
	}
	return out, nil
}

func (a *Agent) fileMkdir(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Path    *string `json:"path"`
		Parents bool    `json:"parents"`
		Mode    *uint32 `json:"mode"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	p, err := checkPath("path", r.Path)
	if err != nil {
		return nil, err
	}
	mode := fs.FileMode(0o755)
	if r.Mode != nil {
		mode = fs.FileMode(*r.Mode & 0o777)
	}
	if r.Parents {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return fileInfo(p, fi), nil
		}
		if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
			return nil, fsError(err, p)
		}
	}
	if err := os.Mkdir(p, mode); err != nil {
		return nil, fsError(err, p)
	}
	// The umask would otherwise narrow the mode the client asked for.
	if err := os.Chmod(p, mode); err != nil {
		return nil, fsError(err, p)
	}
	return lstatInfo(p)
}

func (a *Agent) fileRemove(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Path      *string `json:"path"`
		Recursive bool    `json:"recursive"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	p, err := checkPath("path", r.Path)
	if err != nil {
		return nil, err
	}
	if path.Clean(p) == "/" {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "refusing to remove /")
	}
	// RemoveAll succeeds on a missing path; the client must learn it was not there.
	if _, err := os.Lstat(p); err != nil {
		return nil, fsError(err, p)
	}
	if r.Recursive {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		return nil, fsError(err, p)
	}
	return struct{}{}, nil
}

func (a *Agent) fileRename(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		From *string `json:"from"`
		To   *string `json:"to"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	from, err := checkPath("from", r.From)
	if err != nil {
		return nil, err
	}
	to, err := checkPath("to", r.To)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(from, to); err != nil {
		return nil, fsError(err, "rename "+from+" to "+to)
	}
	return lstatInfo(to)
}
