package ops

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"time"

	"microvm.dev/guest-agent/internal/initsys"
	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

type infoResult struct {
	AgentVersion  string `json:"agentVersion"`
	Protocol      int    `json:"protocol"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	Kernel        string `json:"kernel"`
	Hostname      string `json:"hostname"`
	Mode          Mode   `json:"mode"`
	PID           int    `json:"pid"`
	UptimeMs      int64  `json:"uptimeMs"`
	BootToReadyMs *int64 `json:"bootToReadyMs"`
}

func (a *Agent) info(ctx context.Context, st *session.Stream, req json.RawMessage) (any, error) {
	if err := decode(req, &struct{}{}); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	r := infoResult{
		AgentVersion: a.Version,
		Protocol:     protocol.Version,
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		Kernel:       kernelVersion(),
		Hostname:     host,
		Mode:         a.Mode,
		PID:          os.Getpid(),
		UptimeMs:     a.uptimeMs(),
	}
	if ms := a.bootToReadyMs.Load(); ms >= 0 && a.Mode == ModeInit {
		r.BootToReadyMs = &ms
	}
	return r, nil
}

// uptimeMs is the machine's uptime where the kernel reports it, else the agent's.
func (a *Agent) uptimeMs() int64 {
	if ms, ok := initsys.UptimeMs(); ok {
		return ms
	}
	return time.Since(a.started).Milliseconds()
}
