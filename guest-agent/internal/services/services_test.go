//go:build linux

package services

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"microvm.dev/guest-agent/internal/reaper"
)

func TestParse(t *testing.T) {
	list, err := Parse([]byte(`[{"name":"x","argv":["Xvfb",":0"],"env":{"A":"1"},"user":"sandbox"}]`))
	if err != nil || len(list) != 1 || list[0].Name != "x" || list[0].Argv[1] != ":0" || list[0].Env["A"] != "1" || list[0].User != "sandbox" {
		t.Fatalf("%+v %v", list, err)
	}
	list, err = Parse([]byte(` {"services":[{"name":"a","argv":["true"]},{"name":"b","argv":["false"]}]}`))
	if err != nil || len(list) != 2 || list[1].Name != "b" {
		t.Fatalf("%+v %v", list, err)
	}
	if list, err := Parse([]byte(`[]`)); err != nil || len(list) != 0 {
		t.Fatalf("%+v %v", list, err)
	}
	for text, want := range map[string]string{
		`[{"argv":["true"]}]`:                      "services[0]: name is missing",
		`[{"name":"a","argv":["x"]},{"name":"b"}]`: "services[1] (b): argv is missing",
		`[{"name":"a","argv":[""]}]`:               "services[0] (a): argv is missing",
		`{`:                                        "unexpected end",
	} {
		if _, err := Parse([]byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", text, err, want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Services start in order with their environment, their output reaches the console
// with a prefix, and one that exits or cannot start is logged without stopping the rest.
func TestStartFile(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	file := filepath.Join(dir, "services.json")
	content := fmt.Sprintf(`[
  {"name":"writer","argv":["sh","-c","echo \"$GREETING $USER $HOME\" > %s; echo to-stdout; echo to-stderr >&2; sleep 30"],"env":{"GREETING":"hi"}},
  {"name":"quits","argv":["/bin/sh","-c","exit 3"]},
  {"name":"missing","argv":["no-such-program-here"]},
  {"name":"stranger","argv":["true"],"user":"no-such-user-here"}
]`, marker)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	console := &syncBuffer{}
	logs := &syncBuffer{}
	StartFile(file, reaper.Start(), console, log.New(logs, "", 0))

	waitFor(t, "the marker", func() bool { _, err := os.Stat(marker); return err == nil })
	data, _ := os.ReadFile(marker)
	home := "/root"
	if u, err := user.LookupId("0"); err == nil {
		home = u.HomeDir
	}
	if got := strings.TrimSpace(string(data)); got != "hi root "+home {
		t.Fatalf("environment: %q", got)
	}
	waitFor(t, "the output", func() bool {
		s := console.String()
		return strings.Contains(s, "[writer] to-stdout\n") && strings.Contains(s, "[writer] to-stderr\n")
	})
	waitFor(t, "the exit", func() bool { return strings.Contains(logs.String(), "service quits: exited with status 3") })
	l := logs.String()
	for _, want := range []string{
		"service writer: started (pid ",
		"service missing: cannot start: executable not found: no-such-program-here",
		"service stranger: cannot start: no such user: no-such-user-here",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if strings.Index(l, "service writer: started") > strings.Index(l, "service quits: started") {
		t.Errorf("not started in order:\n%s", l)
	}
}

func TestStartFileWithoutAFile(t *testing.T) {
	logs := &syncBuffer{}
	StartFile(filepath.Join(t.TempDir(), "none.json"), reaper.Start(), &syncBuffer{}, log.New(logs, "", 0))
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`[{"name":""}]`), 0o644)
	StartFile(bad, reaper.Start(), &syncBuffer{}, log.New(logs, "", 0))
	if got := logs.String(); got != "services: "+bad+": services[0]: name is missing\n" {
		t.Fatalf("log %q", got)
	}
}

// A service running as another user gets that user's ids and home.
func TestStartAsAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	// t.TempDir's parent is private to root.
	dir, err := os.MkdirTemp("", "services-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	out := filepath.Join(dir, "id")
	console := &syncBuffer{}
	Start([]Service{{Name: "who", Argv: []string{"sh", "-c", "id -u > " + out + "; echo $USER"}, User: "nobody"}}, reaper.Start(), console, log.New(&syncBuffer{}, "", 0))
	waitFor(t, "the id", func() bool { data, _ := os.ReadFile(out); return len(data) > 0 })
	data, _ := os.ReadFile(out)
	if strings.TrimSpace(string(data)) != nobody.Uid {
		t.Fatalf("uid %q, want %s", data, nobody.Uid)
	}
	waitFor(t, "the output", func() bool { return strings.Contains(console.String(), "[who] nobody\n") })
}
