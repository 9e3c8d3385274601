package ops

import (
	"syscall"

	"microvm.dev/guest-agent/protocol"
)

func setClock(unixMs int64) error {
	tv := syscall.NsecToTimeval(unixMs * 1e6)
	if err := syscall.Settimeofday(&tv); err != nil {
		return protocol.Errorf(protocol.CodePermissionDenied, "settimeofday: %v", err)
	}
	return nil
}
