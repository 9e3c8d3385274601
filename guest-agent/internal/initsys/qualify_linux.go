// Package initsys does what PID 1 of a freshly booted microVM must do before anything
// else can run: mount the kernel file systems, load modules, bring up loopback and set
// the hostname.
package initsys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// CmdlineFlag must be on the kernel command line for the agent to act as init.
const CmdlineFlag = "microvm.agent=init"

// Machine is a VM this process has been confirmed to be init of.
type Machine struct {
	cmdline []string
}

// Qualify confirms that this process is init of a fresh microVM, and may therefore
// change machine-wide state. Tests run the agent as root and as PID 1 of a PID
// namespace on a developer's host; there /proc/self is already visible (the host's
// procfs) or the host's command line lacks CmdlineFlag, so the agent refuses rather
// than remount, rename or power off the host. On success /proc stays mounted; on
// refusal the error says why and nothing is left changed.
func Qualify() (*Machine, error) {
	if pid := os.Getpid(); pid != 1 {
		return nil, fmt.Errorf("not PID 1 (pid %d)", pid)
	}
	if _, err := os.Lstat("/proc/self"); !errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("/proc was already mounted at start: a container or PID namespace, not a freshly booted VM")
	}
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return nil, fmt.Errorf("cannot create /proc: %v", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("cannot mount /proc: %v", err)
	}
	raw, err := os.ReadFile("/proc/cmdline")
	cmdline := strings.Fields(string(raw))
	if err != nil || !contains(cmdline, CmdlineFlag) {
		_ = syscall.Unmount("/proc", syscall.MNT_DETACH)
		return nil, fmt.Errorf("kernel command line lacks %s", CmdlineFlag)
	}
	return &Machine{cmdline: cmdline}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// param returns the value of key=value on the kernel command line.
func (m *Machine) param(key string) (string, bool) {
	for _, f := range m.cmdline {
		if strings.HasPrefix(f, key+"=") {
			return f[len(key)+1:], true
		}
	}
	return "", false
}
