package listen

import (
	"context"
	"io"
	"os"
)

// Stdio serves one connection on stdin and stdout; Run returns when stdin ends.
type Stdio struct{}

func (s *Stdio) String() string { return "stdio" }

func (s *Stdio) Open() error { return nil }

func (s *Stdio) Run(ctx context.Context, serve ServeFunc) error {
	return serve(ctx, struct {
		io.Reader
		io.Writer
	}{os.Stdin, os.Stdout})
}
