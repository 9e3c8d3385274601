package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"

	"microvm.dev/guest-agent/internal/listen"
)

// runConnect implements `microvm-agent connect vsock:CID:PORT`: a netcat for vsock,
// so tests can reach the vsock listener through the kernel's loopback transport.
func runConnect(args []string, l *log.Logger) int {
	if len(args) != 1 {
		l.Print("usage: microvm-agent connect vsock:CID:PORT")
		return 2
	}
	cid, port, err := parseVsockAddr(args[0])
	if err != nil {
		l.Print(err)
		return 2
	}
	conn, err := listen.DialVsock(cid, port)
	if err != nil {
		l.Print(err)
		return 1
	}
	defer conn.Close()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, os.Stdin)
		if cerr := conn.CloseWrite(); err == nil {
			err = cerr
		}
		sent <- err
	}()
	_, recvErr := io.Copy(os.Stdout, conn)
	sendErr := <-sent
	for _, err := range []error{recvErr, sendErr} {
		if err != nil {
			l.Print(err)
			return 1
		}
	}
	return 0
}

func parseVsockAddr(s string) (cid, port uint32, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "vsock" {
		return 0, 0, fmt.Errorf("bad address %q: want vsock:CID:PORT", s)
	}
	c, err1 := strconv.ParseUint(parts[1], 10, 32)
	p, err2 := strconv.ParseUint(parts[2], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad address %q: want vsock:CID:PORT", s)
	}
	return uint32(c), uint32(p), nil
}
