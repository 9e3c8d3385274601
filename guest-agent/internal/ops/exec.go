package ops

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"microvm.dev/guest-agent/internal/initsys"
	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

type ptySize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

type execRequest struct {
	Argv      []string          `json:"argv"`
	Shell     *string           `json:"shell"`
	Env       map[string]string `json:"env"`
	Cwd       *string           `json:"cwd"`
	User      *json.RawMessage  `json:"user"`
	TimeoutMs int64             `json:"timeoutMs"`
	Stdin     bool              `json:"stdin"`
	Pty       *ptySize          `json:"pty"`
}

// execSpec is a validated exec request.
type execSpec struct {
	argv    []string
	env     map[string]string
	cwd     string // empty: the user's home directory
	user    string // empty: the agent's own user
	timeout time.Duration
	stdin   bool
	pty     *ptySize
}

// exitStatus is how a process ended: exactly one of code and signal is set.
type exitStatus struct {
	code   *int
	signal *string
}

// process is a started child as the exec stream drives it; the platform files say
// how it is started and controlled.
type process interface {
	pid() int
	// stdin is nil when the process reads /dev/null.
	stdin() io.Writer
	// endInput acts on the client's EOF: close the pipe, or type the terminal's EOF.
	endInput() error
	// outputs maps each protocol channel to what the process writes on it; a reader
	// returns io.EOF once the process side is closed.
	outputs() map[uint8]io.Reader
	signal(name string) error
	killGroup()
	resize(rows, cols uint16) error
	exited() <-chan exitStatus
	// release closes the agent's ends of pipes and terminal, ending pending reads and
	// writes.
	release()
}

type execResult struct {
	ExitCode   *int    `json:"exitCode"`
	Signal     *string `json:"signal"`
	TimedOut   bool    `json:"timedOut"`
	DurationMs int64   `json:"durationMs"`
}

func parseExec(req json.RawMessage) (*execSpec, error) {
	var r execRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	s := &execSpec{env: r.Env, stdin: r.Stdin, pty: r.Pty}
	switch {
	case r.Argv != nil && r.Shell != nil:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "fields argv and shell are exclusive; give one")
	case r.Shell != nil:
		s.argv = []string{"/bin/sh", "-c", *r.Shell}
	case len(r.Argv) > 0 && r.Argv[0] != "":
		s.argv = r.Argv
	case r.Argv != nil:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field argv must start with a non-empty program name")
	default:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "missing field: argv or shell")
	}
	if r.Cwd != nil {
		cwd, err := checkPath("cwd", r.Cwd)
		if err != nil {
			return nil, err
		}
		s.cwd = cwd
	}
	if r.User != nil {
		u, err := userArg(*r.User)
		if err != nil {
			return nil, err
		}
		s.user = u
	}
	if r.TimeoutMs < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field timeoutMs must not be negative")
	}
	s.timeout = time.Duration(r.TimeoutMs) * time.Millisecond
	if r.Pty != nil && (r.Pty.Rows == 0 || r.Pty.Cols == 0) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field pty needs non-zero rows and cols")
	}
	return s, nil
}

// userArg accepts a user name or a numeric uid, as a JSON string or number.
func userArg(raw json.RawMessage) (string, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return name, nil
	}
	var uid uint32
	if err := json.Unmarshal(raw, &uid); err == nil {
		return json.Number(raw).String(), nil
	}
	return "", protocol.Errorf(protocol.CodeInvalidArgument, "field user must be a name or a numeric uid")
}

// childEnv is the base environment of §5 with the request's variables on top.
func childEnv(s *execSpec, home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = initsys.ChildPath
	}
	m := map[string]string{"PATH": path, "HOME": home}
	if s.pty != nil {
		m["TERM"] = "xterm-256color"
	}
	for k, v := range s.env {
		m[k] = v
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func (a *Agent) exec(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	spec, err := parseExec(req)
	if err != nil {
		return nil, err
	}
	p, err := a.startProcess(spec)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	defer p.release()
	if err := st.Control(map[string]any{"event": "started", "pid": p.pid()}); err != nil {
		p.killGroup()
		<-p.exited()
		return nil, err
	}

	var drained sync.WaitGroup
	for ch, r := range p.outputs() {
		drained.Add(1)
		go func(ch uint8, r io.Reader) {
			defer drained.Done()
			if _, err := st.CopyFrom(ch, r); err == nil {
				_ = st.CloseChannel(ch)
			}
		}(ch, r)
	}
	go a.feedInput(st, p)
	go a.applyControls(st, p)

	var timeout <-chan time.Time
	if spec.timeout > 0 {
		t := time.NewTimer(spec.timeout)
		defer t.Stop()
		timeout = t.C
	}
	timedOut := false
	var status exitStatus
wait:
	for {
		select {
		case status = <-p.exited():
			break wait
		case <-timeout:
			timedOut = true
			p.killGroup()
		case <-ctx.Done():
			// Like a dropped SSH session: the whole group goes. Background children of
			// a process that exited normally are left alone.
			p.killGroup()
			<-p.exited()
			return nil, ctx.Err()
		}
	}
	duration := time.Since(started)

	// END promises that all output came before it; a cancel while output is still
	// being drained must not wait for a client that stopped reading.
	done := make(chan struct{})
	go func() {
		drained.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.release()
		<-done
		return nil, ctx.Err()
	}
	return execResult{ExitCode: status.code, Signal: status.signal, TimedOut: timedOut, DurationMs: duration.Milliseconds()}, nil
}

// feedInput writes the client's stdin to the process, returning credit only once the
// process has taken the bytes, so a process that does not read stops the client.
func (a *Agent) feedInput(st *session.Stream, p process) {
	w := p.stdin()
	for {
		in, err := st.RecvData()
		if err != nil {
			return
		}
		if in.Kind == session.InputEOF {
			if in.Channel == protocol.ChannelStdin && w != nil {
				if err := p.endInput(); err != nil {
					a.Log.Printf("exec stream %d: closing stdin: %v", st.ID(), err)
				}
			}
			continue
		}
		if in.Channel == protocol.ChannelStdin && w != nil {
			if _, err := w.Write(in.Data); err != nil {
				// The process closed its stdin; what follows is dropped but credited.
				w = nil
			}
		}
		if err := st.Consumed(in.Channel, len(in.Data)); err != nil {
			return
		}
	}
}

type execControl struct {
	Type   string `json:"type"`
	Rows   uint16 `json:"rows"`
	Cols   uint16 `json:"cols"`
	Signal string `json:"signal"`
}

// applyControls handles resize and signal commands. They have no reply frame, so a
// bad one is logged and dropped.
func (a *Agent) applyControls(st *session.Stream, p process) {
	for {
		raw, err := st.RecvControl()
		if err != nil {
			return
		}
		var c execControl
		if err := json.Unmarshal(raw, &c); err != nil {
			a.Log.Printf("exec stream %d: malformed CONTROL: %v", st.ID(), err)
			continue
		}
		switch c.Type {
		case "resize":
			err = p.resize(c.Rows, c.Cols)
		case "signal":
			err = p.signal(c.Signal)
		default:
			err = protocol.Errorf(protocol.CodeInvalidArgument, "unknown CONTROL type %q", c.Type)
		}
		if err != nil {
			a.Log.Printf("exec stream %d: %s: %v", st.ID(), c.Type, err)
		}
	}
}
