package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerLimits bounds what one client can hold of a lab [Server]: how long
// it may take to send a request, how long a response may take to write,
// how long an idle keep-alive connection stays open, and how many
// connections are open at once. A zero field takes its value from
// [DefaultServerLimits].
type ServerLimits struct {
	// ReadHeaderTimeout is the time allowed to read a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is the time allowed to read a whole request, headers and
	// body: a client that trickles its body is cut off after it.
	ReadTimeout time.Duration
	// WriteTimeout is the time allowed from the end of reading a request's
	// headers to the end of writing its response.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before the server closes it.
	IdleTimeout time.Duration
	// MaxConns is the most connections served at once; further connections
	// wait (in the listener's backlog) until one closes.
	MaxConns int
}

// DefaultServerLimits are the limits of a lab server: 10 s for headers,
// 30 s for a whole request, 60 s to write a response (the largest
// completion, 128 choices of 1024 tokens, takes about a second), 30 s
// idle keep-alive, and 4096 open connections. The cap must stay well above
// what one run opens: every model instance of a suite has its own client
// with up to its concurrency in connections (the demo: 60 instances × 16),
// and a kept-alive connection holds its slot until it has been idle for
// IdleTimeout, so a cap below that stalls new connections for that long.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxConns:          4096,
	}
}

// withDefaults fills l's zero fields from DefaultServerLimits.
func (l ServerLimits) withDefaults() ServerLimits {
	d := DefaultServerLimits()
	for _, f := range []struct{ v, def *time.Duration }{
		{&l.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&l.ReadTimeout, &d.ReadTimeout},
		{&l.WriteTimeout, &d.WriteTimeout}, {&l.IdleTimeout, &d.IdleTimeout},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	return l
}

// validate reports negative limits.
func (l ServerLimits) validate() error {
	if l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.WriteTimeout < 0 || l.IdleTimeout < 0 || l.MaxConns < 0 {
		return fmt.Errorf("lab server: negative limit in %+v", l)
	}
	return nil
}

// Server serves a zoo's [Zoo.Handler] over HTTP within [ServerLimits].
type Server struct {
	http     *http.Server
	maxConns int
}

// NewServer returns a server for z with limits l (zero fields take their
// defaults). It returns an error if a limit is negative.
func (z *Zoo) NewServer(l ServerLimits) (*Server, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	l = l.withDefaults()
	return &Server{
		http: &http.Server{
			Handler:           z.Handler(),
			ReadHeaderTimeout: l.ReadHeaderTimeout,
			ReadTimeout:       l.ReadTimeout,
			WriteTimeout:      l.WriteTimeout,
			IdleTimeout:       l.IdleTimeout,
		},
		maxConns: l.MaxConns,
	}, nil
}

// Serve accepts connections on ln, at most the server's MaxConns at once,
// until Shutdown or Close; like http.Server.Serve it then returns
// http.ErrServerClosed. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(limitListener(ln, s.maxConns))
}

// Shutdown stops accepting, waits for active requests until ctx is done,
// and closes every connection (http.Server.Shutdown).
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.http.Close() }

// limitListener returns a listener that accepts at most n connections at
// once: Accept waits for an open connection to close when n are open.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{} // one token per open connection
	done      chan struct{} // closed by Close: a waiting Accept gives up
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitedConn gives its slot back once, when it is first closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
