//go:build !linux

package ops

import (
	"runtime"

	"microvm.dev/guest-agent/protocol"
)

func (a *Agent) startProcess(spec *execSpec) (process, error) {
	return nil, protocol.Errorf(protocol.CodeNotPermitted, "exec is unsupported on %s", runtime.GOOS)
}
