package ops

import (
	"context"
	"encoding/json"
	"net"

	"microvm.dev/guest-agent/internal/netconfig"
	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

// resolvConf is the guest's resolver file, rewritten with the new DNS server.
const resolvConf = "/etc/resolv.conf"

// netConfigure moves the guest's NIC to new settings: a sandbox forked from a snapshot
// wakes up with its origin's address and MAC in memory, and the host leases it its own.
func (a *Agent) netConfigure(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Address *string `json:"address"`
		Gateway *string `json:"gateway"`
		DNS     *string `json:"dns"`
		MAC     string  `json:"mac"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	for field, v := range map[string]*string{"address": r.Address, "gateway": r.Gateway, "dns": r.DNS} {
		if v == nil {
			return nil, missing(field)
		}
	}
	c, err := netconfig.Parse(*r.Address + "," + *r.Gateway + "," + *r.DNS)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
	}
	var mac net.HardwareAddr
	if r.MAC != "" {
		if mac, err = net.ParseMAC(r.MAC); err != nil || len(mac) != 6 {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field mac: %q is not an Ethernet MAC address", r.MAC)
		}
	}
	// Never the host's interfaces: only init of a VM owns the machine's network.
	if a.Mode != ModeInit {
		return nil, protocol.Errorf(protocol.CodeNotPermitted, "net.configure is refused: the agent is not running as init inside a VM")
	}
	name, err := netconfig.Apply(c, mac)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeIOError, "%v", err)
	}
	if err := netconfig.WriteResolvConf(resolvConf, c.DNS); err != nil {
		return nil, protocol.Errorf(protocol.CodeIOError, "%s: %v", resolvConf, err)
	}
	return struct {
		Interface string `json:"interface"`
	}{name}, nil
}
