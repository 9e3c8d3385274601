// Package initsys does what PID 1 of a freshly booted microVM must do before anything
// else can run: mount the kernel file systems, load modules, switch to the root disk
// when there is one, bring up loopback and set the hostname.
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

// switchedRootEnv is set by the initramfs's agent for the agent it execs on the root
// disk (see switchRoot): that second run finds /proc already mounted, moved over from
// the initramfs, and must still be allowed to act as init.
const switchedRootEnv = "MICROVM_SWITCHED_ROOT"

// Machine is a VM this process has been confirmed to be init of.
type Machine struct {
	cmdline []string
	// onRootDisk: this process was exec'd on the root disk by the initramfs's init.
	onRootDisk bool
}

// Qualify confirms that this process is init of a fresh microVM, and may therefore
// change machine-wide state. Tests run the agent as root and as PID 1 of a PID
// namespace on a developer's host; there /proc/self is already visible (the host's
// procfs) or the host's command line lacks CmdlineFlag, so the agent refuses rather
// than remount, rename or power off the host. On success /proc stays mounted; on
// refusal the error says why and nothing is left changed.
//
// The one case where /proc is legitimately mounted already is the second stage of a
// disk boot: the initramfs's init moved /proc onto the root disk and exec'd the disk's
// agent with switchedRootEnv set. That stage still needs PID 1 and CmdlineFlag on the
// kernel's command line, which a host's never has.
func Qualify() (*Machine, error) {
	switched := os.Getenv(switchedRootEnv) != ""
	// Children must not inherit it.
	os.Unsetenv(switchedRootEnv)
	if pid := os.Getpid(); pid != 1 {
		return nil, fmt.Errorf("not PID 1 (pid %d)", pid)
	}
	if switched {
		return qualifySwitched()
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

// qualifySwitched checks the second stage of a disk boot, where /proc is the one the
// initramfs's init mounted; nothing is mounted or changed here.
func qualifySwitched() (*Machine, error) {
	raw, err := os.ReadFile("/proc/cmdline")
	cmdline := strings.Fields(string(raw))
	if err != nil || !contains(cmdline, CmdlineFlag) {
		return nil, fmt.Errorf("kernel command line lacks %s", CmdlineFlag)
	}
	m := &Machine{cmdline: cmdline, onRootDisk: true}
	if _, ok := m.param(rootParam); !ok {
		return nil, fmt.Errorf("%s is set but the kernel command line names no %s", switchedRootEnv, rootParam)
	}
	return m, nil
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
