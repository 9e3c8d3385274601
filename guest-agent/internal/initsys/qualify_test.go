//go:build linux

package initsys

import (
	"os"
	"strings"
	"testing"
)

// Tests run as root on a developer's host: the guard must refuse there.
func TestQualifyRefusesOutsideAFreshVM(t *testing.T) {
	m, err := Qualify()
	if m != nil || err == nil {
		t.Fatal("Qualify accepted a test process as init")
	}
	if os.Getpid() != 1 && !strings.Contains(err.Error(), "not PID 1") {
		t.Fatalf("reason %q", err)
	}
}

func TestCmdlineParam(t *testing.T) {
	m := &Machine{cmdline: strings.Fields("console=ttyS0 microvm.agent=init microvm.hostname=box1 quiet")}
	if v, ok := m.param("microvm.hostname"); !ok || v != "box1" {
		t.Fatalf("hostname %q %v", v, ok)
	}
	if _, ok := m.param("microvm.agent.x"); ok {
		t.Fatal("matched a longer key")
	}
	if !contains(m.cmdline, CmdlineFlag) || contains(strings.Fields("microvm.agent=initx"), CmdlineFlag) {
		t.Fatal("flag matching is not exact")
	}
}

func TestUptime(t *testing.T) {
	if ms, ok := UptimeMs(); !ok || ms <= 0 {
		t.Fatalf("uptime %d %v", ms, ok)
	}
}
