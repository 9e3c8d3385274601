package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"path"
	"strings"

	"microvm.dev/guest-agent/protocol"
)

// decode reads a request's arguments, reporting what is wrong in terms of the field the
// client sent, since the client's author reads these messages.
func decode(req json.RawMessage, v any) error {
	if len(bytes.TrimSpace(req)) == 0 {
		req = json.RawMessage("{}")
	}
	err := json.Unmarshal(req, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		return protocol.Errorf(protocol.CodeInvalidArgument, "invalid field %s: got a JSON %s, expected %s", te.Field, te.Value, te.Type)
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "malformed request: %v", err)
	}
}

// checkPath enforces §5's rule for paths: absolute, `/` separated, no NUL.
func checkPath(field string, p *string) (string, error) {
	switch {
	case p == nil:
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "missing field: %s", field)
	case *p == "":
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "field %s is empty", field)
	case strings.IndexByte(*p, 0) >= 0:
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "field %s contains a NUL byte", field)
	case !path.IsAbs(*p):
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "field %s must be an absolute path, got %q", field, *p)
	}
	return *p, nil
}

func missing(field string) error {
	return protocol.Errorf(protocol.CodeInvalidArgument, "missing field: %s", field)
}
