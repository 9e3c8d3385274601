//go:build !linux

package services

import (
	"io"
	"log"
)

// StartFile has nothing to do outside Linux, where the agent is never init.
func StartFile(file string, sp any, console io.Writer, l *log.Logger) {}
