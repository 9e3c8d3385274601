//go:build !linux

package ops

import (
	"runtime"

	"microvm.dev/guest-agent/protocol"
)

func powerSupported() error {
	return protocol.Errorf(protocol.CodeNotPermitted, "power is unsupported on %s", runtime.GOOS)
}

func powerAct(reboot bool) error { return powerSupported() }
