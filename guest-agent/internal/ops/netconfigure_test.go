package ops_test

import (
	"strings"
	"testing"

	"microvm.dev/guest-agent/internal/ops"
	"microvm.dev/guest-agent/protocol"
)

// The host's interfaces are never the agent's to change, whatever mode it is not init in.
func TestNetConfigureRefusedOutsideInit(t *testing.T) {
	args := map[string]any{"address": "10.213.0.9/24", "gateway": "10.213.0.1", "dns": "10.213.0.1", "mac": "02:00:00:00:00:09"}
	for _, mode := range []ops.Mode{ops.ModeHost, ops.ModeService} {
		c := startAgent(t, func(a *ops.Agent) { a.Mode = mode })
		end := c.Unary("net.configure", args)
		if end.Code() != protocol.CodeNotPermitted || end.Error.Message != "net.configure is refused: the agent is not running as init inside a VM" {
			t.Fatalf("%s mode: %s", mode, end)
		}
	}
}

func TestNetConfigureChecksItsArguments(t *testing.T) {
	c := startAgent(t, nil)
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"gateway": "10.0.2.2", "dns": "10.0.2.3"}, "missing field: address"},
		{map[string]any{"address": "10.0.2.15/24", "gateway": "10.0.3.2", "dns": "10.0.2.3"}, "the gateway 10.0.3.2 is outside 10.0.2.0/24"},
		{map[string]any{"address": "10.0.2.15/24", "gateway": "10.0.2.2", "dns": "10.0.2.3", "mac": "zz"}, `field mac: "zz" is not an Ethernet MAC address`},
	} {
		end := c.Unary("net.configure", tc.args)
		if end.Code() != protocol.CodeInvalidArgument || !strings.Contains(end.Error.Message, tc.want) {
			t.Errorf("%v: %s, want %q", tc.args, end, tc.want)
		}
	}
}
