package initsys

import (
	"errors"
	"log"
	"os"
	"syscall"

	"microvm.dev/guest-agent/internal/netconfig"
)

const defaultHostname = "sandbox"

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// /proc is mounted by Qualify. Only what a sandbox needs: boot-to-ready time is
// measured, and every mount costs.
var mounts = []mount{
	{"sysfs", "/sys", "sysfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", syscall.MS_NOSUID | syscall.MS_NOEXEC, "ptmxmode=0666,mode=620"},
	{"tmpfs", "/tmp", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=0755"},
}

// Setup does init's duties. A failed step is logged and skipped: a half-working
// guest the host can still talk to is better than a kernel panic.
//
// With microvm.root on the command line the guest boots in two stages. The initramfs's
// init mounts the disk and execs the disk's own agent, which never returns here (see
// switchRoot); that agent runs Setup again, finds the kernel file systems already
// mounted, grows the root file system to the disk's size and carries on.
func (m *Machine) Setup(l *log.Logger) {
	present := mountPoints()
	for _, mt := range mounts {
		if present[mt.target] {
			continue
		}
		if err := os.MkdirAll(mt.target, 0o755); err != nil {
			l.Printf("init: mkdir %s: %v", mt.target, err)
			continue
		}
		err := syscall.Mount(mt.source, mt.target, mt.fstype, mt.flags, mt.data)
		if err != nil && !errors.Is(err, syscall.EBUSY) {
			l.Printf("init: mount %s on %s: %v", mt.fstype, mt.target, err)
		}
	}
	// The initramfs loaded the modules already; the disk brings its own, if any, for
	// its own services to load.
	if !m.onRootDisk {
		loadModules(l, modulesList)
		// Before switch_root: the kernel's network state carries over to the disk.
		m.configureNetwork(l)
	}
	if dev, ok := m.param(rootParam); ok && dev != "" {
		if m.onRootDisk {
			growRoot(l, dev)
		} else {
			err := m.switchRoot(l, dev)
			l.Printf("init: cannot boot from the root disk %s: %v; staying in the initramfs", dev, err)
		}
	}
	if err := bringUpLoopback(); err != nil {
		l.Printf("init: loopback: %v", err)
	}
	// Written by whichever stage stays: the root disk's own /etc, else the initramfs's.
	m.writeResolvConf(l)
	name, ok := m.param("microvm.hostname")
	if !ok || name == "" {
		name = defaultHostname
	}
	if err := syscall.Sethostname([]byte(name)); err != nil {
		l.Printf("init: hostname %s: %v", name, err)
	}
	os.Setenv("PATH", ChildPath)
}

// OnRootDisk reports whether this init runs on the root disk (the second stage of a
// disk boot), where the template's services are started.
func (m *Machine) OnRootDisk() bool { return m.onRootDisk }

// networkConfig is the guest NIC's settings from the command line; ok is false when the
// sandbox has no network (or the setting is unreadable, which is logged).
func (m *Machine) networkConfig(l *log.Logger) (netconfig.Config, bool) {
	value, present := m.param(netconfig.Param)
	if !present {
		return netconfig.Config{}, false
	}
	c, err := netconfig.Parse(value)
	if err != nil {
		l.Printf("init: %v", err)
		return netconfig.Config{}, false
	}
	return c, true
}

func (m *Machine) configureNetwork(l *log.Logger) {
	c, ok := m.networkConfig(l)
	if !ok {
		return
	}
	if name, err := netconfig.Apply(c, nil); err != nil {
		l.Printf("init: network: %v", err)
	} else {
		l.Printf("init: %s is %s/%d via %s", name, c.Address, c.Prefix, c.Gateway)
	}
}

func (m *Machine) writeResolvConf(l *log.Logger) {
	if c, ok := m.networkConfig(l); ok {
		if err := netconfig.WriteResolvConf(resolvConf, c.DNS); err != nil {
			l.Printf("init: %s: %v", resolvConf, err)
		}
	}
}

const resolvConf = "/etc/resolv.conf"
