// Command microvm-agent is the guest agent of MicroVM Sandbox: it serves the protocol
// of docs/agent-protocol.md to the host, and can be the guest's init.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"microvm.dev/guest-agent/internal/initsys"
	"microvm.dev/guest-agent/internal/listen"
	"microvm.dev/guest-agent/internal/ops"
	"microvm.dev/guest-agent/internal/reaper"
	"microvm.dev/guest-agent/internal/services"
	"microvm.dev/guest-agent/internal/session"
	"microvm.dev/guest-agent/protocol"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0"

// listFlag collects a repeatable flag whose values may also be comma lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// Discovery retry when booting: devices appear only once their modules have loaded.
const (
	fastRetry       = 10 * time.Millisecond
	fastRetryPeriod = 10 * time.Second
	slowRetry       = time.Second
)

func main() {
	initsys.ReserveStdio()
	logger := log.New(os.Stderr, "microvm-agent: ", 0)
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Println(version)
			return
		case "connect":
			os.Exit(runConnect(args[1:], logger))
		}
	}

	// The kernel hands init the command-line words it does not know; as init, a bad
	// argument must not make the agent exit, which would panic the kernel.
	bootedAsInit := filepath.Base(os.Args[0]) == "init"
	fs := flag.NewFlagSet("microvm-agent", flag.ContinueOnError)
	var listens listFlag
	fs.Var(&listens, "listen", "transport: stdio, unix:PATH, virtio-serial, vsock:PORT (repeatable, or a comma list)")
	modeFlag := fs.String("mode", "auto", "auto, init, service or host")
	allowPower := fs.Bool("allow-power", false, "in service mode, allow the power operation")
	allowSetTime := fs.Bool("allow-set-time", false, "in service mode, allow time.set")
	if err := fs.Parse(args); err != nil {
		if !bootedAsInit {
			os.Exit(2)
		}
		logger.Printf("ignoring arguments: %v", err)
	}

	var listeners []listen.Listener
	for _, spec := range defaultListens(bootedAsInit, listens) {
		l, err := listen.Parse(spec, logger)
		if err != nil {
			logger.Fatal(err)
		}
		listeners = append(listeners, l)
	}

	mode, err := chooseMode(*modeFlag, logger)
	if err != nil {
		logger.Fatal(err)
	}
	rp := reaper.Start()
	agent := ops.NewAgent(version, mode, rp, logger)
	if mode == ops.ModeInit {
		// The template's services (a rootfs image's /etc/microvm/services.json), started
		// beside the listeners so they never delay the agent's readiness.
		go services.StartFile(services.File, rp, os.Stderr, logger)
	}
	agent.AllowPower, agent.AllowSetTime = *allowPower, *allowSetTime
	cfg := session.Config{AgentVersion: version, Handlers: agent.Handlers(), Log: logger}
	serve := func(ctx context.Context, rw io.ReadWriter) error { return session.Serve(ctx, rw, cfg) }

	ctx := context.Background()
	var readyOnce sync.Once
	ready := func() {
		readyOnce.Do(func() {
			if ms, ok := initsys.UptimeMs(); ok && mode == ops.ModeInit {
				agent.SetBootToReady(ms)
				logger.Printf("ready %d ms after boot", ms)
			}
		})
	}
	finished := make(chan string, len(listeners))
	for _, l := range listeners {
		go func(l listen.Listener) {
			if err := open(l, mode == ops.ModeInit, logger); err != nil {
				logger.Printf("%s: %v", l, err)
				finished <- l.String()
				return
			}
			ready()
			if err := l.Run(ctx, serve); err != nil {
				logger.Printf("%s: %v", l, err)
			}
			finished <- l.String()
		}(l)
	}
	waitForEnd(finished, len(listeners), mode, logger)
}

// defaultListens fills in the transports when none are given: as the initramfs's
// /init, the VM transports, else stdio.
func defaultListens(bootedAsInit bool, given listFlag) listFlag {
	switch {
	case len(given) > 0:
		return given
	case bootedAsInit:
		return listFlag{"virtio-serial", fmt.Sprintf("vsock:%d", protocol.VsockPort)}
	}
	return listFlag{"stdio"}
}

// chooseMode applies the PID-1 guard: init mode needs initsys.Qualify, which refuses
// anywhere but a freshly booted VM that asked for it.
func chooseMode(flagValue string, l *log.Logger) (ops.Mode, error) {
	switch flagValue {
	case "auto", "init":
		m, err := initsys.Qualify()
		if err != nil {
			if flagValue == "init" {
				return "", fmt.Errorf("refusing --mode init: %v", err)
			}
			if os.Getpid() == 1 {
				l.Printf("not acting as init: %v", err)
			}
			return ops.ModeHost, nil
		}
		m.Setup(l)
		return ops.ModeInit, nil
	case "service":
		return ops.ModeService, nil
	case "host":
		return ops.ModeHost, nil
	}
	return "", fmt.Errorf("unknown --mode %q (want auto, init, service or host)", flagValue)
}

// open opens a listener; as init it keeps retrying, since the device or address
// family appears only after the kernel has probed it.
func open(l listen.Listener, retry bool, logger *log.Logger) error {
	start := time.Now()
	logged := false
	for {
		err := l.Open()
		if err == nil || !retry {
			return err
		}
		delay := fastRetry
		if time.Since(start) > fastRetryPeriod {
			delay = slowRetry
			if !logged {
				logger.Printf("%s: still waiting: %v", l, err)
				logged = true
			}
		}
		time.Sleep(delay)
	}
}

// waitForEnd returns when the agent should exit: when stdio ended, or when every
// listener has given up. Init never returns: the kernel would panic.
func waitForEnd(finished <-chan string, count int, mode ops.Mode, l *log.Logger) {
	for left := count; left > 0; left-- {
		if name := <-finished; name == "stdio" && mode != ops.ModeInit {
			return
		}
	}
	if mode == ops.ModeInit {
		l.Printf("no transport left; idling as init")
		select {}
	}
	os.Exit(1)
}
