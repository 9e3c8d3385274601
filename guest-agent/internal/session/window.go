package session

import (
	"context"
	"sync"
)

// window is the credit this side may still send on one channel of one stream (§4).
type window struct {
	mu    sync.Mutex
	avail int64
	wake  chan struct{}
}

func newWindow(initial uint32) *window {
	return &window{avail: int64(initial), wake: make(chan struct{})}
}

// acquire reserves between 1 and max bytes of credit, waiting until some is available.
func (w *window) acquire(ctx context.Context, max int) (int, error) {
	for {
		w.mu.Lock()
		if w.avail > 0 {
			n := int64(max)
			if w.avail < n {
				n = w.avail
			}
			w.avail -= n
			w.mu.Unlock()
			return int(n), nil
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// add returns credit, from a WINDOW frame or from an acquire that used less than it took.
func (w *window) add(n int64) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	w.avail += n
	close(w.wake)
	w.wake = make(chan struct{})
	w.mu.Unlock()
}
