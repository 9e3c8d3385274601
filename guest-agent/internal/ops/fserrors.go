package ops

import (
	"errors"
	"io/fs"
	"syscall"

	"microvm.dev/guest-agent/protocol"
)

// fsError turns a file-system error into the protocol's code, with a message that
// names the path the client asked about (not a temporary file of the agent's).
func fsError(err error, what string) error {
	var e *protocol.Error
	if errors.As(err, &e) {
		return e
	}
	code, reason := protocol.CodeIOError, err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		reason = errno.Error()
	}
	switch {
	case errors.Is(err, syscall.ENOTEMPTY):
		code = protocol.CodeNotEmpty
	case errors.Is(err, syscall.EISDIR):
		code = protocol.CodeIsDirectory
	case errors.Is(err, syscall.ENOTDIR):
		code = protocol.CodeNotDirectory
	case errors.Is(err, fs.ErrNotExist):
		code = protocol.CodeNotFound
	case errors.Is(err, fs.ErrExist):
		code = protocol.CodeAlreadyExists
	case errors.Is(err, fs.ErrPermission):
		code = protocol.CodePermissionDenied
	}
	return protocol.Errorf(code, "%s: %s", what, reason)
}
