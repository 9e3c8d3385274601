package ops

import "microvm.dev/guest-agent/protocol"

// machineWide refuses operations that change the whole machine unless the agent owns
// it: as init of a VM, or as a service whose operator allowed it explicitly. The agent
// also runs on developers' hosts in tests, as root.
func (a *Agent) machineWide(op string, allowedInService bool, flag string) error {
	switch {
	case a.Mode == ModeInit:
		return nil
	case a.Mode == ModeService && allowedInService:
		return nil
	case a.Mode == ModeService:
		return protocol.Errorf(protocol.CodeNotPermitted, "%s is refused: the agent runs as a service without %s", op, flag)
	}
	return protocol.Errorf(protocol.CodeNotPermitted, "%s is refused: the agent is not running as init inside a VM", op)
}
