package ops

import (
	"context"
	"encoding/json"
	"time"

	"microvm.dev/guest-agent/internal/session"
)

func (a *Agent) timeSet(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		UnixMs *int64 `json:"unixMs"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	if r.UnixMs == nil {
		return nil, missing("unixMs")
	}
	if err := a.machineWide("time.set", a.AllowSetTime, "--allow-set-time"); err != nil {
		return nil, err
	}
	prev := time.Now().UnixMilli()
	if err := setClock(*r.UnixMs); err != nil {
		return nil, err
	}
	return struct {
		PreviousUnixMs int64 `json:"previousUnixMs"`
		UnixMs         int64 `json:"unixMs"`
	}{prev, *r.UnixMs}, nil
}
