package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"microvm.dev/guest-agent/internal/agenttest"
	"microvm.dev/guest-agent/protocol"
)

// The test binary doubles as the agent: with this variable set it runs main().
const asAgentEnv = "MICROVM_AGENT_TEST_AS_AGENT"

func TestMain(m *testing.M) {
	if os.Getenv(asAgentEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// agentCmd runs the agent with args, prefixed by wrapper (such as unshare) if given.
func agentCmd(wrapper []string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), wrapper...), os.Args[0]), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), asAgentEnv+"=1")
	return cmd
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type pipes struct {
	io.Reader
	io.WriteCloser
}

// startStdio starts the agent on stdio and returns a client on its pipes.
func startStdio(t *testing.T, cmd *exec.Cmd) (*agenttest.Client, *lockedBuffer, func() error) {
	t.Helper()
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	c := agenttest.New(t, pipes{stdout, stdin})
	wait := func() error {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(agenttest.Timeout):
			return fmt.Errorf("agent did not exit")
		}
	}
	return c, stderr, wait
}

type info struct {
	Mode          string
	PID           int
	Hostname      string
	BootToReadyMs *int64
}

func TestVersion(t *testing.T) {
	out, err := agentCmd(nil, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != version {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestStdioSessionAndExitOnEOF(t *testing.T) {
	c, stderr, wait := startStdio(t, agentCmd(nil, "--listen", "stdio"))
	c.Handshake("stdio")
	var i info
	c.Unary("info", nil).Decode(t, &i)
	if i.Mode != "host" || i.BootToReadyMs != nil {
		t.Fatalf("info %+v", i)
	}
	// A running process must not keep the agent alive once stdin ends.
	c.Open("exec", map[string]any{"argv": []string{"sleep", "60"}})
	time.Sleep(100 * time.Millisecond)
	c.Close()
	if err := wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, stderr)
	}
}

func TestUnixSocketConcurrentSessions(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := agentCmd(nil, "--listen", "unix:"+sock)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	dial := func() *agenttest.Client {
		deadline := time.Now().Add(agenttest.Timeout)
		for {
			conn, err := net.Dial("unix", sock)
			if err == nil {
				c := agenttest.New(t, conn)
				t.Cleanup(c.Close)
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("dial: %v\n%s", err, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	a, b := dial(), dial()
	a.Handshake("a")
	b.Handshake("b")
	// Session a's long stream does not block session b.
	idA := a.Open("exec", map[string]any{"shell": "read x; echo $x", "stdin": true})
	if out := b.Collect(b.Open("exec", map[string]any{"argv": []string{"echo", "from-b"}})); out.Out[0].String() != "from-b\n" {
		t.Fatalf("b: %q", out.Out[0].String())
	}
	a.SendData(idA, []byte("from-a\n"))
	if out := a.Collect(idA); out.Out[0].String() != "from-a\n" {
		t.Fatalf("a: %q", out.Out[0].String())
	}
}

// The PID-1 guard, as the tests of the TypeScript side run the agent: as root and PID 1
// of new namespaces on the developer's host. It must come up in host mode and refuse
// everything machine-wide.
func TestGuardAsPID1InNamespaces(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Getuid() != 0 {
		t.Skip("needs root and unshare")
	}
	wrapper := []string{unshare, "--pid", "--fork", "--mount", "--uts", "--ipc"}
	hostname, _ := os.Hostname()
	c, stderr, wait := startStdio(t, agentCmd(wrapper, "--listen", "stdio"))
	c.Handshake("pid1")
	var i info
	c.Unary("info", nil).Decode(t, &i)
	if i.PID != 1 || i.Mode != "host" || i.BootToReadyMs != nil || i.Hostname != hostname {
		t.Fatalf("info %+v", i)
	}
	if end := c.Unary("time.set", map[string]any{"unixMs": 1}); end.Code() != protocol.CodeNotPermitted {
		t.Fatalf("time.set: %s", end)
	}
	if end := c.Unary("power", map[string]any{"action": "poweroff"}); end.Code() != protocol.CodeNotPermitted {
		t.Fatalf("power: %s", end)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "/proc was already mounted") {
		t.Fatalf("no refusal logged: %s", stderr)
	}

	out, err := agentCmd(wrapper, "--mode", "init", "--listen", "stdio").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing --mode init") {
		t.Fatalf("--mode init was not refused: %v %s", err, out)
	}

	// The second stage of a disk boot finds /proc mounted; its marker variable alone must
	// not make a process on a host init.
	switched := agentCmd(wrapper, "--mode", "init", "--listen", "stdio")
	switched.Env = append(switched.Env, "MICROVM_SWITCHED_ROOT=1")
	out, err = switched.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing --mode init: kernel command line lacks microvm.agent=init") {
		t.Fatalf("a switched-root start was not refused: %v %s", err, out)
	}
}

// The vsock listener, reached through the kernel's loopback transport (CID 1) with the
// connect subcommand. Skipped where vsock_loopback is not available.
func TestVsockListener(t *testing.T) {
	port := 40000 + os.Getpid()%20000
	agent := agentCmd(nil, "--listen", fmt.Sprintf("vsock:%d", port))
	agentErr := &lockedBuffer{}
	agent.Stderr = agentErr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		agent.Process.Kill()
		agent.Wait()
	}()
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(agentErr.String(), "vsock") {
		t.Skipf("no vsock here: %s", agentErr.String())
	}
	c, stderr, wait := startStdio(t, agentCmd(nil, "connect", fmt.Sprintf("vsock:1:%d", port)))
	select {
	case <-c.Closed():
		t.Skipf("vsock loopback unavailable: %s", stderr)
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Handshake("vsock")
	}()
	select {
	case <-done:
	case <-c.Closed():
		t.Skipf("vsock loopback unavailable: %s", stderr)
	}
	var i info
	c.Unary("info", nil).Decode(t, &i)
	if i.Mode != "host" {
		t.Fatalf("info %+v", i)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatalf("connect: %v %s", err, stderr)
	}
}

func TestDefaultListens(t *testing.T) {
	str := func(l listFlag) string { return l.String() }
	if got := str(defaultListens(true, nil)); got != "virtio-serial,vsock:1024" {
		t.Fatalf("as /init: %s", got)
	}
	if got := str(defaultListens(true, listFlag{"stdio"})); got != "stdio" {
		t.Fatalf("as /init with flags: %s", got)
	}
	if got := str(defaultListens(false, nil)); got != "stdio" {
		t.Fatalf("default: %s", got)
	}
	var l listFlag
	l.Set("stdio,unix:/a")
	l.Set("vsock:5")
	if l.String() != "stdio,unix:/a,vsock:5" {
		t.Fatalf("list flag %s", l.String())
	}
}
