//go:build linux

package reaper

import (
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

func spawn(t *testing.T, r *Reaper, argv ...string) <-chan syscall.WaitStatus {
	t.Helper()
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	_, ch, err := r.Spawn(func() (int, error) { return syscall.ForkExec(argv[0], argv, attr) })
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// Children that exit at once, many at a time, each get their own status.
func TestFastChildrenAreNotLost(t *testing.T) {
	r := Start()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case ws := <-spawn(t, r, "/bin/sh", "-c", "exit 5"):
				if ws.ExitStatus() != 5 {
					t.Errorf("status %v", ws)
				}
			case <-time.After(10 * time.Second):
				t.Error("status lost")
			}
		}()
	}
	wg.Wait()
}

// Children nobody registered (orphans, as init inherits them) are reaped and dropped.
func TestUnregisteredChildrenAreReaped(t *testing.T) {
	Start()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(p.Pid, 0); err == syscall.ESRCH {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("zombie left behind")
}
