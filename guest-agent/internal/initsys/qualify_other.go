//go:build !linux

// Package initsys does PID-1 duties of a Linux microVM; elsewhere the agent never is init.
package initsys

import (
	"errors"
	"log"
)

// Machine is never obtained outside Linux.
type Machine struct{}

// Qualify always refuses outside Linux.
func Qualify() (*Machine, error) {
	return nil, errors.New("init mode is supported on Linux only")
}

// Setup is unreachable, as Qualify never succeeds.
func (m *Machine) Setup(l *log.Logger) {}

// OnRootDisk is unreachable, as Qualify never succeeds.
func (m *Machine) OnRootDisk() bool { return false }
