package ops_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"microvm.dev/guest-agent/internal/agenttest"
	"microvm.dev/guest-agent/protocol"
)

type fileInfo struct {
	Name, Path, Type string
	Size             int64
	Mode             uint32
	MtimeMs          int64
	LinkTarget       string
}

func writeFile(t *testing.T, c *harness, args map[string]any, content []byte) agenttest.End {
	t.Helper()
	id := c.Open("file.write", args)
	go func() {
		c.SendData(id, content)
		c.SendEOF(id)
	}()
	return c.Collect(id).End
}

func TestFileWriteAndRead(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "data.bin")
	content := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB: several windows
	var w struct {
		Size   int64
		SHA256 string
	}
	writeFile(t, c, map[string]any{"path": p, "mkdirs": true, "mode": 0o600}, content).Decode(t, &w)
	if w.Size != int64(len(content)) || w.SHA256 != hex.EncodeToString(sha256Sum(content)) {
		t.Fatalf("write result %+v", w)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("file has %d bytes, err %v", len(got), err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Fatalf("temporary file left behind: %v", ents)
	}

	o := c.Collect(c.Open("file.read", map[string]any{"path": p}))
	var r struct{ Size int64 }
	o.End.Decode(t, &r)
	if !bytes.Equal(o.Out[0].Bytes(), content) || r.Size != int64(len(content)) || !o.EOF[0] {
		t.Fatalf("read %d bytes, size %d", o.Out[0].Len(), r.Size)
	}
	o = c.Collect(c.Open("file.read", map[string]any{"path": p, "offset": 3, "length": 5}))
	if o.Out[0].String() != "34567" {
		t.Fatalf("ranged read %q", o.Out[0].String())
	}
}

func TestFileWriteModes(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if end := writeFile(t, c, map[string]any{"path": p}, []byte("first")); !end.OK {
		t.Fatal(end)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("default mode %v", fi.Mode())
	}
	// In place: the inode is kept.
	before, _ := os.Stat(p)
	os.Chmod(p, 0o640)
	if end := writeFile(t, c, map[string]any{"path": p, "atomic": false}, []byte("2nd")); !end.OK {
		t.Fatal(end)
	}
	after, _ := os.Stat(p)
	if got, _ := os.ReadFile(p); string(got) != "2nd" || !os.SameFile(before, after) || after.Mode().Perm() != 0o640 {
		t.Fatalf("in-place write: %q same=%v mode %v", got, os.SameFile(before, after), after.Mode())
	}
	// Atomic: a new inode replaces the old one.
	if end := writeFile(t, c, map[string]any{"path": p}, []byte("third")); !end.OK {
		t.Fatal(end)
	}
	final, _ := os.Stat(p)
	if got, _ := os.ReadFile(p); string(got) != "third" || os.SameFile(after, final) {
		t.Fatalf("atomic write: %q", got)
	}
	if end := writeFile(t, c, map[string]any{"path": p}, nil); !end.OK {
		t.Fatal(end)
	}
	if got, _ := os.ReadFile(p); len(got) != 0 {
		t.Fatalf("empty write left %q", got)
	}
}

func TestFileWriteErrors(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	// The error comes at once, before any DATA.
	id := c.Open("file.write", map[string]any{"path": filepath.Join(dir, "missing", "f")})
	if end := c.Collect(id).End; end.Code() != protocol.CodeNotFound || !strings.Contains(end.Error.Message, dir) {
		t.Fatalf("missing dir: %s", end)
	}
	// DATA that follows an early END is dropped.
	c.Send(protocol.Frame{Type: protocol.TypeData, Stream: id, Payload: []byte("late")})
	if end := c.Unary("file.write", map[string]any{"path": dir}); end.Code() != protocol.CodeIsDirectory {
		t.Fatalf("directory: %s", end)
	}
	if end := c.Unary("file.write", map[string]any{"path": "rel/path"}); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("relative: %s", end)
	}
	if end := c.Unary("file.write", map[string]any{"path": "/tmp/a\x00b"}); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("NUL: %s", end)
	}
	if end := c.Unary("file.write", map[string]any{}); end.Code() != protocol.CodeInvalidArgument || !strings.Contains(end.Error.Message, "path") {
		t.Fatalf("missing path: %s", end)
	}
	if end := c.Unary("file.write", map[string]any{"path": 42}); end.Code() != protocol.CodeInvalidArgument || !strings.Contains(end.Error.Message, "path") {
		t.Fatalf("number path: %s", end)
	}
}

func TestFileWriteCancelRemovesTemp(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	id := c.Open("file.write", map[string]any{"path": filepath.Join(dir, "f")})
	c.SendData(id, []byte("partial"))
	// The temporary file exists once the agent has taken the data.
	for {
		if f := c.Next(id); f.Type == protocol.TypeWindow {
			break
		}
	}
	c.Send(protocol.Frame{Type: protocol.TypeCancel, Stream: id})
	if end := c.Collect(id).End; end.Code() != protocol.CodeCancelled {
		t.Fatalf("end %s", end)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents[0].Name())
	}
}

func TestFileWriteDisconnectRemovesTemp(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	id := c.Open("file.write", map[string]any{"path": filepath.Join(dir, "f")})
	c.SendData(id, []byte("partial"))
	for {
		if f := c.Next(id); f.Type == protocol.TypeWindow {
			break
		}
	}
	c.shutdown(t)()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents[0].Name())
	}
}

func TestFileReadErrors(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	if end := c.Unary("file.read", map[string]any{"path": dir}); end.Code() != protocol.CodeIsDirectory {
		t.Fatalf("dir: %s", end)
	}
	missing := filepath.Join(dir, "nope")
	if end := c.Unary("file.read", map[string]any{"path": missing}); end.Code() != protocol.CodeNotFound || !strings.Contains(end.Error.Message, missing) {
		t.Fatalf("missing: %s", end)
	}
	if end := c.Unary("file.read", map[string]any{"path": ""}); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("empty: %s", end)
	}
}

func TestFileStatListMkdirRemoveRename(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("hello"), 0o640)
	os.Symlink("b.txt", filepath.Join(dir, "a-link"))
	os.Mkdir(filepath.Join(dir, "c-dir"), 0o750)

	var fi fileInfo
	c.Unary("file.stat", map[string]any{"path": filepath.Join(dir, "b.txt")}).Decode(t, &fi)
	if fi.Name != "b.txt" || fi.Type != "file" || fi.Size != 5 || fi.Mode != 0o640 || fi.MtimeMs <= 0 {
		t.Fatalf("stat %+v", fi)
	}
	c.Unary("file.stat", map[string]any{"path": filepath.Join(dir, "a-link")}).Decode(t, &fi)
	if fi.Type != "symlink" || fi.LinkTarget != "b.txt" {
		t.Fatalf("stat link %+v", fi)
	}
	var list struct{ Entries []fileInfo }
	c.Unary("file.list", map[string]any{"path": dir}).Decode(t, &list)
	var names []string
	for _, e := range list.Entries {
		names = append(names, e.Name+":"+e.Type)
	}
	if strings.Join(names, ",") != "a-link:symlink,b.txt:file,c-dir:dir" || list.Entries[1].Path != filepath.Join(dir, "b.txt") {
		t.Fatalf("list %v", names)
	}
	if end := c.Unary("file.list", map[string]any{"path": filepath.Join(dir, "b.txt")}); end.Code() != protocol.CodeNotDirectory {
		t.Fatalf("list file: %s", end)
	}

	deep := filepath.Join(dir, "x", "y", "z")
	c.Unary("file.mkdir", map[string]any{"path": deep, "parents": true, "mode": 0o700}).Decode(t, &fi)
	if fi.Type != "dir" || fi.Mode != 0o700 {
		t.Fatalf("mkdir %+v", fi)
	}
	if end := c.Unary("file.mkdir", map[string]any{"path": deep, "parents": true}); !end.OK {
		t.Fatalf("mkdir -p existing: %s", end)
	}
	if end := c.Unary("file.mkdir", map[string]any{"path": deep}); end.Code() != protocol.CodeAlreadyExists {
		t.Fatalf("mkdir existing: %s", end)
	}
	if end := c.Unary("file.mkdir", map[string]any{"path": filepath.Join(dir, "q", "r")}); end.Code() != protocol.CodeNotFound {
		t.Fatalf("mkdir without parents: %s", end)
	}

	if end := c.Unary("file.remove", map[string]any{"path": filepath.Join(dir, "x")}); end.Code() != protocol.CodeNotEmpty {
		t.Fatalf("remove non-empty: %s", end)
	}
	if end := c.Unary("file.remove", map[string]any{"path": filepath.Join(dir, "x"), "recursive": true}); !end.OK {
		t.Fatalf("remove recursive: %s", end)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatal("x still exists")
	}
	if end := c.Unary("file.remove", map[string]any{"path": filepath.Join(dir, "x"), "recursive": true}); end.Code() != protocol.CodeNotFound {
		t.Fatalf("remove missing: %s", end)
	}
	if end := c.Unary("file.remove", map[string]any{"path": "/", "recursive": true}); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("remove /: %s", end)
	}

	to := filepath.Join(dir, "c-dir", "moved.txt")
	c.Unary("file.rename", map[string]any{"from": filepath.Join(dir, "b.txt"), "to": to}).Decode(t, &fi)
	if fi.Path != to || fi.Size != 5 {
		t.Fatalf("rename %+v", fi)
	}
	end := c.Unary("file.rename", map[string]any{"from": filepath.Join(dir, "b.txt"), "to": to})
	if end.Code() != protocol.CodeNotFound || !strings.Contains(end.Error.Message, "b.txt") {
		t.Fatalf("rename missing: %s", end)
	}
	if end := c.Unary("file.rename", map[string]any{"from": to}); end.Code() != protocol.CodeInvalidArgument || !strings.Contains(end.Error.Message, "to") {
		t.Fatalf("rename without to: %s", end)
	}
	if end := c.Unary("file.stat", map[string]any{"path": filepath.Join(dir, "nope")}); end.Code() != protocol.CodeNotFound {
		t.Fatalf("stat missing: %s", end)
	}
}

func TestFilePermissionDenied(t *testing.T) {
	c := startAgent(t, nil)
	// Root bypasses permission bits; a write into /proc is refused to root too.
	end := c.Unary("file.mkdir", map[string]any{"path": "/proc/agent-test-dir"})
	if end.Code() != protocol.CodePermissionDenied && end.Code() != protocol.CodeNotFound {
		t.Fatalf("mkdir in /proc: %s", end)
	}
}
