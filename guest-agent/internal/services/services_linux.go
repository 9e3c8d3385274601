package services

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/user"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// childPath is the PATH a service gets unless its env sets one.
const childPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spawner registers a forked child for its exit status; the agent's reaper is one (as
// PID 1 it owns wait4 for the whole process).
type Spawner interface {
	Spawn(start func() (int, error)) (int, <-chan syscall.WaitStatus, error)
}

// StartFile starts the services listed in file, in order. No file means no services;
// an unreadable or invalid one is logged.
func StartFile(file string, sp Spawner, console io.Writer, l *log.Logger) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		var list []Service
		if list, err = Parse(data); err == nil {
			Start(list, sp, console, l)
			return
		}
	}
	l.Printf("services: %s: %v", file, err)
}

// Start starts each service in order without waiting for any to finish. Each line a
// service writes to stdout or stderr goes to console prefixed with "[name] "; its exit
// is logged. A service that cannot be started is logged and skipped.
func Start(list []Service, sp Spawner, console io.Writer, l *log.Logger) {
	out := &lineWriter{w: console}
	for _, s := range list {
		pid, err := start(s, sp, out, l)
		if err != nil {
			l.Printf("service %s: cannot start: %v", s.Name, err)
			continue
		}
		l.Printf("service %s: started (pid %d)", s.Name, pid)
	}
}

func start(s Service, sp Spawner, out *lineWriter, l *log.Logger) (int, error) {
	cred, home, err := account(s.User)
	if err != nil {
		return 0, err
	}
	env := environment(s, home)
	exe, err := lookPath(s.Argv[0], env)
	if err != nil {
		return 0, err
	}
	dir := "/"
	if fi, err := os.Stat(home); err == nil && fi.IsDir() {
		dir = home
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{null.Fd(), w.Fd(), w.Fd()},
		// Its own session: signals meant for the agent's children never reach it.
		Sys: &syscall.SysProcAttr{Setsid: true, Credential: cred},
	}
	pid, status, err := sp.Spawn(func() (int, error) { return syscall.ForkExec(exe, s.Argv, attr) })
	w.Close()
	if err != nil {
		r.Close()
		return 0, err
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			out.line(fmt.Sprintf("[%s] %s", s.Name, sc.Text()))
		}
		// A line longer than the buffer ends the copy; the rest is drained unseen so the
		// service never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() {
		ws := <-status
		<-copied
		switch {
		case ws.Signaled():
			l.Printf("service %s: killed by signal %d (%v)", s.Name, int(ws.Signal()), ws.Signal())
		default:
			l.Printf("service %s: exited with status %d", s.Name, ws.ExitStatus())
		}
	}()
	return pid, nil
}

// account resolves the service's user; nil credentials run it as root, like the agent.
func account(name string) (*syscall.Credential, string, error) {
	if name == "" || name == "root" || name == "0" {
		return nil, homeOf("0", "/root"), nil
	}
	var u *user.User
	var err error
	if _, numErr := strconv.ParseUint(name, 10, 32); numErr == nil {
		u, err = user.LookupId(name)
	} else {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return nil, "", fmt.Errorf("no such user: %s", name)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, u.HomeDir, nil
}

func homeOf(uid, fallback string) string {
	if u, err := user.LookupId(uid); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return fallback
}

// environment is a login-like base (PATH, HOME, USER, LOGNAME) under the service's own
// variables.
func environment(s Service, home string) []string {
	name := s.User
	if name == "" || name == "0" {
		name = "root"
	}
	vars := map[string]string{"PATH": childPath, "HOME": home, "USER": name, "LOGNAME": name}
	for k, v := range s.Env {
		vars[k] = v
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// lookPath finds argv[0] on the service's PATH, as execvp would.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, executable(name)
	}
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") {
			continue
		}
		for _, dir := range strings.Split(kv[len("PATH="):], ":") {
			if dir == "" {
				continue
			}
			p := path.Join(dir, name)
			if executable(p) == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("executable not found: %s", name)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable", p)
	}
	return nil
}

// lineWriter writes whole lines, one Write each, so concurrent services do not
// interleave within a line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) line(s string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	_, _ = io.WriteString(lw.w, s+"\n")
}
