// Package protocol holds the wire format shared with the host's TypeScript client:
// the constants (read from constants.json, the single source of both sides) and the
// frame codec.
package protocol

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed constants.json
var constantsJSON []byte

// FrameType is the type byte of a frame header.
type FrameType uint8

// ErrorCode is a stream-level (END) or session-level (ERROR) error code.
type ErrorCode string

type constantsFile struct {
	Version       int              `json:"version"`
	Preamble      string           `json:"preamble"`
	HeaderSize    int              `json:"headerSize"`
	MaxFrame      uint32           `json:"maxFrame"`
	MaxData       uint32           `json:"maxData"`
	InitialWindow uint32           `json:"initialWindow"`
	HelloRetryMs  int              `json:"helloRetryMs"`
	VsockPort     uint32           `json:"vsockPort"`
	VirtioPort    string           `json:"virtioPortName"`
	FrameTypes    map[string]uint8 `json:"frameTypes"`
	Channels      map[string]uint8 `json:"channels"`
	Ops           []string         `json:"ops"`
	StreamErrors  []string         `json:"streamErrors"`
	SessionErrors []string         `json:"sessionErrors"`
}

// The JSON file is the source of truth; a missing key must stop the agent at start-up
// rather than let it speak a silently different protocol.
var constants = func() constantsFile {
	var c constantsFile
	if err := json.Unmarshal(constantsJSON, &c); err != nil {
		panic("protocol: constants.json: " + err.Error())
	}
	if len(c.Preamble) == 0 || c.HeaderSize != 12 || c.MaxFrame == 0 || c.MaxData == 0 || c.InitialWindow == 0 {
		panic("protocol: constants.json: missing or invalid limits")
	}
	return c
}()

func frameType(name string) FrameType {
	v, ok := constants.FrameTypes[name]
	if !ok {
		panic(fmt.Sprintf("protocol: constants.json has no frame type %s", name))
	}
	return FrameType(v)
}

func channel(name string) uint8 {
	v, ok := constants.Channels[name]
	if !ok {
		panic(fmt.Sprintf("protocol: constants.json has no channel %s", name))
	}
	return v
}

func errorCode(list []string, name string) ErrorCode {
	for _, s := range list {
		if s == name {
			return ErrorCode(name)
		}
	}
	panic(fmt.Sprintf("protocol: constants.json does not list error code %s", name))
}

var (
	Version       = constants.Version
	Preamble      = []byte(constants.Preamble)
	HeaderSize    = constants.HeaderSize
	MaxFrame      = constants.MaxFrame
	MaxData       = constants.MaxData
	InitialWindow = constants.InitialWindow
	VsockPort     = constants.VsockPort
	VirtioPort    = constants.VirtioPort
	// Ops lists every operation of the protocol, in the order the spec gives them.
	Ops = append([]string(nil), constants.Ops...)
)

var (
	TypeHello   = frameType("HELLO")
	TypeOpen    = frameType("OPEN")
	TypeData    = frameType("DATA")
	TypeEOF     = frameType("EOF")
	TypeWindow  = frameType("WINDOW")
	TypeControl = frameType("CONTROL")
	TypeEnd     = frameType("END")
	TypeCancel  = frameType("CANCEL")
	TypePing    = frameType("PING")
	TypePong    = frameType("PONG")
	TypeError   = frameType("ERROR")
)

var (
	ChannelStdout = channel("stdout")
	ChannelStdin  = channel("stdin")
	ChannelStderr = channel("stderr")
)

// Stream-level codes, sent in END.
var (
	CodeNotFound          = errorCode(constants.StreamErrors, "not_found")
	CodeAlreadyExists     = errorCode(constants.StreamErrors, "already_exists")
	CodeIsDirectory       = errorCode(constants.StreamErrors, "is_directory")
	CodeNotDirectory      = errorCode(constants.StreamErrors, "not_directory")
	CodeNotEmpty          = errorCode(constants.StreamErrors, "not_empty")
	CodePermissionDenied  = errorCode(constants.StreamErrors, "permission_denied")
	CodeInvalidArgument   = errorCode(constants.StreamErrors, "invalid_argument")
	CodeUnknownOperation  = errorCode(constants.StreamErrors, "unknown_operation")
	CodeConnectionRefused = errorCode(constants.StreamErrors, "connection_refused")
	CodeNotPermitted      = errorCode(constants.StreamErrors, "not_permitted")
	CodeCancelled         = errorCode(constants.StreamErrors, "cancelled")
	CodeIOError           = errorCode(constants.StreamErrors, "io_error")
	CodeInternal          = errorCode(constants.StreamErrors, "internal")
)

// Session-level codes, sent in ERROR.
var (
	CodeBadFrame           = errorCode(constants.SessionErrors, "bad_frame")
	CodeFrameTooLarge      = errorCode(constants.SessionErrors, "frame_too_large")
	CodeStreamInUse        = errorCode(constants.SessionErrors, "stream_in_use")
	CodeFlowControl        = errorCode(constants.SessionErrors, "flow_control")
	CodeUnsupportedVersion = errorCode(constants.SessionErrors, "unsupported_version")
)

// MaxPing is the largest PING payload (§2).
const MaxPing = 64
