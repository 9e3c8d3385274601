// Package reaper owns wait4 for the whole process. Go's exec.Cmd.Wait would race with
// it: as PID 1 the agent must reap every orphan that the kernel reparents to it, and a
// wait4(-1) loop cannot coexist with per-child waits.
package reaper

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Reaper dispatches exit statuses of registered children and discards the rest.
type Reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
}

var (
	once     sync.Once
	instance *Reaper
)

// Start installs the SIGCHLD handler and the reaping loop, once per process.
func Start() *Reaper {
	once.Do(func() {
		instance = &Reaper{waiters: map[int]chan syscall.WaitStatus{}}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGCHLD)
		go instance.loop(sigs)
	})
	return instance
}

func (r *Reaper) loop(sigs <-chan os.Signal) {
	// Zombies inherited before the handler existed raise no signal of their own.
	r.reapAll()
	for range sigs {
		r.reapAll()
	}
}

func (r *Reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		// Taking the lock waits out a Spawn that has forked this pid but not yet
		// registered it.
		r.mu.Lock()
		ch := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
}

// Spawn runs start, which must fork a child and return its pid, and registers that pid
// before the reaper can look it up, so even a child that exits at once is reported on
// the returned channel.
func (r *Reaper) Spawn(start func() (int, error)) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}
