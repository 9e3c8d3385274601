package ops_test

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"microvm.dev/guest-agent/internal/agenttest"
	"microvm.dev/guest-agent/internal/ops"
	"microvm.dev/guest-agent/internal/reaper"
	"microvm.dev/guest-agent/internal/session"
)

type harness struct {
	*agenttest.Client
	served chan error
	once   sync.Once
}

func startAgent(t *testing.T, configure func(a *ops.Agent)) *harness {
	t.Helper()
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "agent: ", 0)
	}
	a := ops.NewAgent("test", ops.ModeHost, reaper.Start(), logger)
	if configure != nil {
		configure(a)
	}
	agentSide, clientSide := net.Pipe()
	served := make(chan error, 1)
	cfg := session.Config{AgentVersion: "test", Handlers: a.Handlers(), Log: logger}
	go func() {
		served <- session.Serve(context.Background(), agentSide, cfg)
		agentSide.Close()
	}()
	c := agenttest.New(t, clientSide)
	h := &harness{Client: c, served: served}
	t.Cleanup(h.shutdown(t))
	c.Handshake("ops")
	return h
}

// shutdown returns a function that disconnects and waits for Serve, which returns
// only once every stream's goroutines have ended.
func (h *harness) shutdown(t *testing.T) func() {
	return func() {
		h.once.Do(func() {
			h.Close()
			select {
			case <-h.served:
			case <-time.After(agenttest.Timeout):
				t.Errorf("Serve did not return after the client closed")
			}
		})
	}
}
