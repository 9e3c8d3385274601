package ops

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"syscall"

	"microvm.dev/guest-agent/protocol"
)

// unixProcess is a child in its own process group (its own session with a PTY), so
// that signals and kills reach everything it started.
type unixProcess struct {
	id      int
	status  <-chan exitStatus
	in      *os.File // pipe or PTY master; nil for /dev/null
	outs    map[uint8]io.Reader
	closers []*os.File
	term    *terminal
}

func (p *unixProcess) pid() int                     { return p.id }
func (p *unixProcess) outputs() map[uint8]io.Reader { return p.outs }
func (p *unixProcess) exited() <-chan exitStatus    { return p.status }

func (p *unixProcess) stdin() io.Writer {
	if p.in == nil {
		return nil
	}
	return p.in
}

func (p *unixProcess) endInput() error {
	if p.term != nil {
		return p.term.typeEOF()
	}
	return p.in.Close()
}

func (p *unixProcess) signal(name string) error {
	sig, ok := signalByName(name)
	if !ok {
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown signal %q", name)
	}
	return syscall.Kill(-p.id, sig)
}

func (p *unixProcess) killGroup() { _ = syscall.Kill(-p.id, syscall.SIGKILL) }

func (p *unixProcess) resize(rows, cols uint16) error {
	if p.term == nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "resize needs a pty")
	}
	return p.term.setSize(rows, cols)
}

func (p *unixProcess) release() {
	for _, f := range p.closers {
		f.Close()
	}
}

type account struct {
	cred *syscall.Credential // nil: run as the agent's own user
	home string
}

// lookupAccount resolves the request's user (name or uid) from the guest's
// /etc/passwd and /etc/group; os/user reads them itself when cgo is off.
func lookupAccount(name string) (account, error) {
	self := name == ""
	var u *user.User
	var err error
	switch _, numErr := strconv.ParseUint(name, 10, 32); {
	case self:
		u, err = user.LookupId(strconv.Itoa(os.Getuid()))
	case numErr == nil:
		u, err = user.LookupId(name)
	default:
		u, err = user.Lookup(name)
	}
	if err != nil {
		if self {
			return account{home: "/"}, nil
		}
		return account{}, protocol.Errorf(protocol.CodeNotFound, "no such user: %s", name)
	}
	acct := account{home: u.HomeDir}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if self || (int(uid) == os.Getuid() && int(gid) == os.Getgid()) {
		return acct, nil
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	acct.cred = cred
	return acct, nil
}

// workDir checks cwd up front: a failed chdir in the child would come back as an
// errno indistinguishable from a failed exec.
func workDir(spec *execSpec, home string) (string, error) {
	if spec.cwd == "" {
		if fi, err := os.Stat(home); err == nil && fi.IsDir() {
			return home, nil
		}
		return "/", nil
	}
	fi, err := os.Stat(spec.cwd)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", protocol.Errorf(protocol.CodeNotFound, "working directory not found: %s", spec.cwd)
	case err != nil:
		return "", fsError(err, spec.cwd)
	case !fi.IsDir():
		return "", protocol.Errorf(protocol.CodeNotDirectory, "working directory is not a directory: %s", spec.cwd)
	}
	return spec.cwd, nil
}

// findExecutable resolves argv[0] like execvp, against the child's PATH, so that the
// client gets not_found or permission_denied naming the program instead of an errno.
func findExecutable(name string, env []string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !path.IsAbs(p) {
			p = path.Join(cwd, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", execError(err, name)
		}
		return p, nil
	}
	var denied error
	for _, dir := range strings.Split(envValue(env, "PATH"), ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, name)
		if !path.IsAbs(p) {
			p = path.Join(cwd, p)
		}
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", execError(denied, name)
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "executable not found: %s", name)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return syscall.EISDIR
	case fi.Mode()&0o111 == 0:
		return syscall.EACCES
	}
	return nil
}

func execError(err error, name string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return protocol.Errorf(protocol.CodeNotFound, "executable not found: %s", name)
	case errors.Is(err, syscall.EISDIR):
		return protocol.Errorf(protocol.CodePermissionDenied, "cannot execute %s: it is a directory", name)
	case errors.Is(err, fs.ErrPermission):
		return protocol.Errorf(protocol.CodePermissionDenied, "cannot execute %s: permission denied", name)
	case errors.Is(err, syscall.ENOEXEC):
		return protocol.Errorf(protocol.CodePermissionDenied, "cannot execute %s: not an executable format", name)
	}
	return protocol.Errorf(protocol.CodeIOError, "cannot execute %s: %v", name, err)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return kv[len(key)+1:]
		}
	}
	return ""
}

func (a *Agent) startProcess(spec *execSpec) (process, error) {
	acct, err := lookupAccount(spec.user)
	if err != nil {
		return nil, err
	}
	cwd, err := workDir(spec, acct.home)
	if err != nil {
		return nil, err
	}
	env := childEnv(spec, acct.home)
	bin, err := findExecutable(spec.argv[0], env, cwd)
	if err != nil {
		return nil, err
	}

	p := &unixProcess{outs: map[uint8]io.Reader{}}
	var childEnds []*os.File
	sys := &syscall.SysProcAttr{Credential: acct.cred}
	if spec.pty != nil {
		term, slave, err := openTerminal(spec.pty.Rows, spec.pty.Cols)
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeIOError, "cannot allocate a pty: %v", err)
		}
		p.term, p.in = term, term.master
		p.outs[protocol.ChannelStdout] = term
		p.closers = append(p.closers, term.master)
		childEnds = []*os.File{slave, slave, slave}
		// A new session whose controlling terminal is the PTY: job control and ^C work,
		// and the session's processes form one group to signal.
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	} else {
		if childEnds, err = p.pipes(spec.stdin); err != nil {
			p.release()
			return nil, protocol.Errorf(protocol.CodeIOError, "cannot create pipes: %v", err)
		}
		sys.Setpgid = true
	}
	fds := make([]uintptr, len(childEnds))
	for i, f := range childEnds {
		// Fd also puts the child's end in blocking mode, which programs expect.
		fds[i] = f.Fd()
	}
	attr := &syscall.ProcAttr{Dir: cwd, Env: env, Files: fds, Sys: sys}
	pid, ws, err := a.Reaper.Spawn(func() (int, error) { return syscall.ForkExec(bin, spec.argv, attr) })
	for _, f := range childEnds {
		f.Close()
	}
	if err != nil {
		p.release()
		return nil, execError(err, spec.argv[0])
	}
	p.id = pid
	status := make(chan exitStatus, 1)
	go func() { status <- decodeStatus(<-ws) }()
	p.status = status
	return p, nil
}

// pipes creates stdin (or /dev/null), stdout and stderr, and returns the child's ends.
func (p *unixProcess) pipes(withStdin bool) ([]*os.File, error) {
	var childEnds []*os.File
	fail := func(err error) ([]*os.File, error) {
		for _, f := range childEnds {
			f.Close()
		}
		return nil, err
	}
	if withStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		p.in = w
		p.closers = append(p.closers, w)
		childEnds = append(childEnds, r)
	} else {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return fail(err)
		}
		childEnds = append(childEnds, null)
	}
	for _, ch := range []uint8{protocol.ChannelStdout, protocol.ChannelStderr} {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		p.outs[ch] = r
		p.closers = append(p.closers, r)
		childEnds = append(childEnds, w)
	}
	return childEnds, nil
}

func decodeStatus(ws syscall.WaitStatus) exitStatus {
	if ws.Signaled() {
		name := signalName(ws.Signal())
		return exitStatus{signal: &name}
	}
	code := ws.ExitStatus()
	return exitStatus{code: &code}
}
