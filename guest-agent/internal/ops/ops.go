// Package ops implements the protocol's operations (§5) as session handlers.
package ops

import (
	"log"
	"sync/atomic"
	"time"

	"microvm.dev/guest-agent/internal/reaper"
	"microvm.dev/guest-agent/internal/session"
)

// Mode is how the agent was started; it decides which privileged operations it may do.
type Mode string

const (
	// ModeInit: PID 1 of a freshly booted VM, which owns the whole machine.
	ModeInit Mode = "init"
	// ModeService: a service on a full guest rootfs (under systemd).
	ModeService Mode = "service"
	// ModeHost: anywhere else, such as host-side tests; nothing machine-wide is allowed.
	ModeHost Mode = "host"
)

// Agent is the state the operations share.
type Agent struct {
	Version      string
	Mode         Mode
	AllowPower   bool
	AllowSetTime bool
	Reaper       *reaper.Reaper
	Log          *log.Logger

	started       time.Time
	bootToReadyMs atomic.Int64
}

// NewAgent returns an Agent whose boot-to-ready time is not known yet.
func NewAgent(version string, mode Mode, r *reaper.Reaper, l *log.Logger) *Agent {
	a := &Agent{Version: version, Mode: mode, Reaper: r, Log: l, started: time.Now()}
	a.bootToReadyMs.Store(-1)
	return a
}

// SetBootToReady records the kernel uptime at which the agent became ready.
func (a *Agent) SetBootToReady(ms int64) { a.bootToReadyMs.Store(ms) }

// Handlers maps every operation name to its handler.
func (a *Agent) Handlers() map[string]session.Handler {
	return map[string]session.Handler{
		"info":          a.info,
		"exec":          a.exec,
		"file.write":    a.fileWrite,
		"file.read":     a.fileRead,
		"file.stat":     a.fileStat,
		"file.list":     a.fileList,
		"file.mkdir":    a.fileMkdir,
		"file.remove":   a.fileRemove,
		"file.rename":   a.fileRename,
		"tcp.connect":   a.tcpConnect,
		"time.set":      a.timeSet,
		"power":         a.power,
		"net.configure": a.netConfigure,
	}
}
