//go:build !linux

package netconfig

import (
	"errors"
	"net"
)

// Apply is Linux-only: the agent is a VM's init only there.
func Apply(c Config, mac net.HardwareAddr) (string, error) {
	return "", errors.New("network configuration is supported on Linux only")
}
