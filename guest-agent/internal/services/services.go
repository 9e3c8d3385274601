// Package services starts the processes a template lists in /etc/microvm/services.json:
// the agent, as the guest's init, runs them after boot in their listed order, with
// their output in the serial console. A service that exits is logged, not restarted.
package services

import (
	"encoding/json"
	"fmt"
	"strings"
)

// File is where a rootfs template lists its services.
const File = "/etc/microvm/services.json"

// Service is one entry of the file.
type Service struct {
	Name string            `json:"name"`
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env,omitempty"`
	// User is a name or uid from the guest's /etc/passwd; root when empty.
	User string `json:"user,omitempty"`
}

// Parse reads the file's content: a JSON array of services, or an object with a
// "services" array. An entry without a name or an argv is an error naming its index.
func Parse(data []byte) ([]Service, error) {
	var list []Service
	trimmed := strings.TrimSpace(string(data))
	if strings.HasPrefix(trimmed, "{") {
		var wrapped struct {
			Services []Service `json:"services"`
		}
		if err := json.Unmarshal(data, &wrapped); err != nil {
			return nil, err
		}
		list = wrapped.Services
	} else if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	for i, s := range list {
		switch {
		case strings.TrimSpace(s.Name) == "":
			return nil, fmt.Errorf("services[%d]: name is missing", i)
		case len(s.Argv) == 0 || s.Argv[0] == "":
			return nil, fmt.Errorf("services[%d] (%s): argv is missing", i, s.Name)
		}
	}
	return list, nil
}
