package ops

import (
	"context"
	"encoding/json"

	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

func (a *Agent) power(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	var r struct {
		Action *string `json:"action"`
	}
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	if r.Action == nil {
		return nil, missing("action")
	}
	reboot := false
	switch *r.Action {
	case "poweroff":
	case "reboot":
		reboot = true
	default:
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "field action must be \"poweroff\" or \"reboot\", got %q", *r.Action)
	}
	if err := a.machineWide("power", a.AllowPower, "--allow-power"); err != nil {
		return nil, err
	}
	if err := powerSupported(); err != nil {
		return nil, err
	}
	// Once the machine goes down no reply can be sent, so the reply goes first.
	st.AfterEnd(func() {
		a.Log.Printf("power: %s", *r.Action)
		if err := powerAct(reboot); err != nil {
			a.Log.Printf("power: %s failed: %v", *r.Action, err)
		}
	})
	return struct{}{}, nil
}
