//go:build !linux

package ops

import (
	"runtime"

	"microvm.dev/guest-agent/protocol"
)

func setClock(unixMs int64) error {
	return protocol.Errorf(protocol.CodeNotPermitted, "time.set is unsupported on %s", runtime.GOOS)
}
