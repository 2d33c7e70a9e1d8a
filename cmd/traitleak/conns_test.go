package main

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// connCounter counts a fake server's open connections (as its ConnState
// hook). A child killed with SIGKILL may have requests on the wire that
// the server reads, serves and counts after the kill: once every
// connection is closed, all of them are counted, and counts taken then
// belong to the killed child alone.
type connCounter struct{ open atomic.Int64 }

// state is the server's ConnState hook.
func (c *connCounter) state(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		c.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

// waitClosed waits until no connection is open (see waitFor's deadline).
func (c *connCounter) waitClosed(t *testing.T) {
	t.Helper()
	waitFor(t, "the killed child's connections closed", func() bool { return c.open.Load() == 0 })
}
