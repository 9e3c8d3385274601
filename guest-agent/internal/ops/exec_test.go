//go:build linux

package ops_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"microvm.dev/guest-agent/internal/agenttest"
	"microvm.dev/guest-agent/protocol"
)

type execResult struct {
	ExitCode   *int
	Signal     *string
	TimedOut   bool
	DurationMs int64
}

func runExec(t *testing.T, c *harness, args map[string]any) (*agenttest.Outcome, execResult) {
	t.Helper()
	o := c.Collect(c.Open("exec", args))
	var r execResult
	o.End.Decode(t, &r)
	return o, r
}

func TestExecOutputAndExitCode(t *testing.T) {
	c := startAgent(t, nil)
	o, r := runExec(t, c, map[string]any{"shell": "echo out; echo err >&2; exit 3"})
	if o.Out[0].String() != "out\n" || o.Out[1].String() != "err\n" || !o.EOF[0] || !o.EOF[1] {
		t.Fatalf("stdout %q stderr %q eof %v", o.Out[0].String(), o.Out[1].String(), o.EOF)
	}
	if r.ExitCode == nil || *r.ExitCode != 3 || r.Signal != nil || r.TimedOut {
		t.Fatalf("result %+v", r)
	}
	if len(o.Controls) != 1 || o.Controls[0]["event"] != "started" || o.Controls[0]["pid"].(float64) <= 0 {
		t.Fatalf("controls %v", o.Controls)
	}
}

func TestExecArgvEnvCwd(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	o, r := runExec(t, c, map[string]any{
		"argv": []string{"sh", "-c", `printf '%s|%s|%s|%s' "$FOO" "$PWD" "$HOME" "$1"`, "zero", "one"},
		"env":  map[string]string{"FOO": "bar"},
		"cwd":  dir,
	})
	if got := o.Out[0].String(); got != "bar|"+dir+"|/root|one" || *r.ExitCode != 0 {
		t.Fatalf("got %q, %+v", got, r)
	}
	// The base environment is PATH and HOME only, not the agent's own.
	os.Setenv("AGENT_SECRET", "x")
	defer os.Unsetenv("AGENT_SECRET")
	o, _ = runExec(t, c, map[string]any{"argv": []string{"env"}})
	if env := o.Out[0].String(); strings.Contains(env, "AGENT_SECRET") || !strings.Contains(env, "PATH=") {
		t.Fatalf("env %q", env)
	}
}

func TestExecSignalAndTimeout(t *testing.T) {
	c := startAgent(t, nil)
	_, r := runExec(t, c, map[string]any{"shell": "kill -TERM $$"})
	if r.ExitCode != nil || r.Signal == nil || *r.Signal != "SIGTERM" {
		t.Fatalf("result %+v", r)
	}
	start := time.Now()
	_, r = runExec(t, c, map[string]any{"argv": []string{"sleep", "30"}, "timeoutMs": 200})
	if !r.TimedOut || r.Signal == nil || *r.Signal != "SIGKILL" || time.Since(start) > 10*time.Second {
		t.Fatalf("result %+v", r)
	}
}

func TestExecStdin(t *testing.T) {
	c := startAgent(t, nil)
	id := c.Open("exec", map[string]any{"argv": []string{"sha256sum"}, "stdin": true})
	input := bytes.Repeat([]byte("abcdefgh"), 200000) // several windows
	go func() {
		c.SendData(id, input)
		c.SendEOF(id)
	}()
	o := c.Collect(id)
	if !o.End.OK {
		t.Fatalf("end %s", o.End)
	}
	want := fmt.Sprintf("%x", sha256Sum(input))
	if !strings.HasPrefix(o.Out[0].String(), want) {
		t.Fatalf("sha256sum printed %q, want %s", o.Out[0].String(), want)
	}
	// Without stdin: true the process reads /dev/null.
	o, _ = runExec(t, c, map[string]any{"argv": []string{"wc", "-c"}})
	if strings.TrimSpace(o.Out[0].String()) != "0" {
		t.Fatalf("wc -c read %q", o.Out[0].String())
	}
}

func TestExecControlSignal(t *testing.T) {
	c := startAgent(t, nil)
	id := c.Open("exec", map[string]any{"shell": "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done"})
	waitOutput(t, c, id, "ready")
	c.SendControl(id, map[string]any{"type": "signal", "signal": "SIGUSR1"})
	o := c.Collect(id)
	var r execResult
	o.End.Decode(t, &r)
	if !strings.Contains(o.Out[0].String(), "got-usr1") || r.ExitCode == nil || *r.ExitCode != 7 {
		t.Fatalf("out %q result %+v", o.Out[0].String(), r)
	}
}

// waitOutput reads stream id until its stdout contains want.
func waitOutput(t *testing.T, c *harness, id uint32, want string) string {
	t.Helper()
	var out bytes.Buffer
	for !strings.Contains(out.String(), want) {
		f := c.Next(id)
		switch f.Type {
		case protocol.TypeData:
			out.Write(f.Payload)
			c.Credit(id, f.Channel, uint32(len(f.Payload)))
		case protocol.TypeEnd:
			t.Fatalf("stream ended before %q: %s, output %q", want, f.Payload, out.String())
		}
	}
	return out.String()
}

func TestExecPty(t *testing.T) {
	c := startAgent(t, nil)
	o, r := runExec(t, c, map[string]any{"shell": "stty size; test -t 0 && echo tty; echo $TERM; echo err >&2", "pty": map[string]int{"rows": 24, "cols": 80}})
	out := o.Out[0].String()
	if !strings.Contains(out, "24 80") || !strings.Contains(out, "tty") || !strings.Contains(out, "xterm-256color") ||
		!strings.Contains(out, "err") || o.Out[1].Len() != 0 || *r.ExitCode != 0 {
		t.Fatalf("pty output %q / %q, result %+v", out, o.Out[1].String(), r)
	}
}

func TestExecPtyResizeAndEOF(t *testing.T) {
	c := startAgent(t, nil)
	id := c.Open("exec", map[string]any{
		"shell": "echo ready; read line; stty size; cat; echo done",
		"pty":   map[string]int{"rows": 10, "cols": 20},
		"stdin": true,
	})
	waitOutput(t, c, id, "ready")
	c.SendControl(id, map[string]any{"type": "resize", "rows": 50, "cols": 132})
	// The resize and the input travel on different queues; let the resize land first.
	time.Sleep(100 * time.Millisecond)
	c.SendData(id, []byte("go\n"))
	waitOutput(t, c, id, "50 132")
	// EOF on a terminal is ^D, which ends cat.
	c.SendEOF(id)
	o := c.Collect(id)
	var r execResult
	o.End.Decode(t, &r)
	if !strings.Contains(o.Out[0].String(), "done") || *r.ExitCode != 0 {
		t.Fatalf("out %q, %+v", o.Out[0].String(), r)
	}
}

func TestExecErrors(t *testing.T) {
	c := startAgent(t, nil)
	dir := t.TempDir()
	noexec := filepath.Join(dir, "script")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	cases := []struct {
		args map[string]any
		code protocol.ErrorCode
		msg  string
	}{
		{map[string]any{"argv": []string{"no-such-binary-xyz"}}, protocol.CodeNotFound, "no-such-binary-xyz"},
		{map[string]any{"argv": []string{"/nonexistent/bin"}}, protocol.CodeNotFound, "/nonexistent/bin"},
		{map[string]any{"argv": []string{noexec}}, protocol.CodePermissionDenied, noexec},
		{map[string]any{"argv": []string{dir}}, protocol.CodePermissionDenied, dir},
		{map[string]any{"argv": []string{"true"}, "cwd": "/nonexistent-dir"}, protocol.CodeNotFound, "/nonexistent-dir"},
		{map[string]any{"argv": []string{"true"}, "cwd": "relative"}, protocol.CodeInvalidArgument, "cwd"},
		{map[string]any{"argv": []string{"true"}, "shell": "true"}, protocol.CodeInvalidArgument, "argv"},
		{map[string]any{}, protocol.CodeInvalidArgument, "argv"},
		{map[string]any{"argv": []string{}}, protocol.CodeInvalidArgument, "argv"},
		{map[string]any{"argv": "true"}, protocol.CodeInvalidArgument, "argv"},
		{map[string]any{"argv": []string{"true"}, "user": "no-such-user-xyz"}, protocol.CodeNotFound, "no-such-user-xyz"},
		{map[string]any{"argv": []string{"true"}, "pty": map[string]int{"rows": 0, "cols": 0}}, protocol.CodeInvalidArgument, "pty"},
	}
	for _, tc := range cases {
		end := c.Unary("exec", tc.args)
		if end.Code() != tc.code || !strings.Contains(end.Error.Message, tc.msg) {
			t.Errorf("exec %v: %s, want %s naming %q", tc.args, end, tc.code, tc.msg)
		}
	}
}

func TestExecAsUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	c := startAgent(t, nil)
	for _, user := range []any{"nobody", 65534} {
		o, r := runExec(t, c, map[string]any{"shell": "id -u; echo $HOME", "user": user})
		if lines := strings.Fields(o.Out[0].String()); len(lines) < 1 || lines[0] != "65534" || *r.ExitCode != 0 {
			t.Fatalf("user %v: %q %q", user, o.Out[0].String(), o.Out[1].String())
		}
	}
}

func TestExecFlowControl(t *testing.T) {
	c := startAgent(t, nil)
	const size = 4 << 20
	id := c.Open("exec", map[string]any{"argv": []string{"head", "-c", fmt.Sprint(size), "/dev/zero"}})
	received := c.ReceiveUntilStalled(id)
	if received == 0 {
		t.Fatal("agent sent nothing before credit ran out")
	}
	c.Credit(id, 0, uint32(received))
	o := c.Collect(id)
	var r execResult
	o.End.Decode(t, &r)
	if received+o.Out[0].Len() != size || *r.ExitCode != 0 {
		t.Fatalf("got %d bytes, %+v", received+o.Out[0].Len(), r)
	}
}

func TestExecCancelKillsProcessGroup(t *testing.T) {
	c := startAgent(t, nil)
	id := c.Open("exec", map[string]any{"shell": "sleep 300 & echo $!; wait"})
	child := pidFrom(t, waitOutput(t, c, id, "\n"))
	c.Send(protocol.Frame{Type: protocol.TypeCancel, Stream: id})
	if end := c.Collect(id).End; end.Code() != protocol.CodeCancelled {
		t.Fatalf("end %s", end)
	}
	waitGone(t, child)
}

func TestDisconnectKillsProcess(t *testing.T) {
	c := startAgent(t, nil)
	id := c.Open("exec", map[string]any{"shell": "echo $$; exec sleep 300"})
	pid := pidFrom(t, waitOutput(t, c, id, "\n"))
	c.Close()
	waitGone(t, pid)
}

func pidFrom(t *testing.T, out string) int {
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(out), &pid); err != nil || pid <= 0 {
		t.Fatalf("no pid in %q", out)
	}
	return pid
}

// waitGone waits until pid no longer exists. The reaper reaps it (the test binary is
// its parent, or the orphan was reparented away), so kill(pid, 0) ends in ESRCH.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(agenttest.Timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return
		}
		if state, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(state), ") Z ") {
			return // killed; a zombie waiting for a parent outside this test
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still alive", pid)
}
