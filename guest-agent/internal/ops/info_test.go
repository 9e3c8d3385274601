package ops_test

import (
	"os"
	"runtime"
	"testing"

	"microvm.dev/guest-agent/internal/ops"
	"microvm.dev/guest-agent/protocol"
)

func TestInfo(t *testing.T) {
	c := startAgent(t, nil)
	var info struct {
		AgentVersion  string
		Protocol      int
		OS, Arch      string
		Kernel        string
		Hostname      string
		Mode          string
		PID           int
		UptimeMs      int64
		BootToReadyMs *int64
	}
	c.Unary("info", nil).Decode(t, &info)
	if info.AgentVersion != "test" || info.Protocol != protocol.Version || info.OS != runtime.GOOS ||
		info.Arch != runtime.GOARCH || info.Mode != "host" || info.PID != os.Getpid() || info.Kernel == "" ||
		info.UptimeMs <= 0 || info.BootToReadyMs != nil {
		t.Fatalf("info %+v", info)
	}
}

func TestBootToReadyOnlyAsInit(t *testing.T) {
	c := startAgent(t, func(a *ops.Agent) { a.SetBootToReady(1234) })
	var info struct{ BootToReadyMs *int64 }
	c.Unary("info", nil).Decode(t, &info)
	if info.BootToReadyMs != nil {
		t.Fatalf("bootToReadyMs %d outside init mode", *info.BootToReadyMs)
	}
}

// The agent runs as root on the developer's host in these tests: machine-wide
// operations must be refused.
func TestPrivilegedOpsRefusedOnHost(t *testing.T) {
	c := startAgent(t, nil)
	end := c.Unary("time.set", map[string]any{"unixMs": 0})
	if end.Code() != protocol.CodeNotPermitted || end.Error.Message != "time.set is refused: the agent is not running as init inside a VM" {
		t.Fatalf("time.set: %s", end)
	}
	end = c.Unary("power", map[string]any{"action": "poweroff"})
	if end.Code() != protocol.CodeNotPermitted {
		t.Fatalf("power: %s", end)
	}
	if end := c.Unary("power", map[string]any{"action": "explode"}); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("bad action: %s", end)
	}
	if end := c.Unary("time.set", nil); end.Code() != protocol.CodeInvalidArgument {
		t.Fatalf("missing unixMs: %s", end)
	}
}

func TestPrivilegedOpsNeedFlagsInService(t *testing.T) {
	c := startAgent(t, func(a *ops.Agent) { a.Mode = ops.ModeService })
	end := c.Unary("time.set", map[string]any{"unixMs": 0})
	if end.Code() != protocol.CodeNotPermitted || end.Error.Message != "time.set is refused: the agent runs as a service without --allow-set-time" {
		t.Fatalf("time.set: %s", end)
	}
	if end := c.Unary("power", map[string]any{"action": "reboot"}); end.Code() != protocol.CodeNotPermitted {
		t.Fatalf("power: %s", end)
	}
}
