package lab

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientDeadline bounds every raw connection of the server-limit tests:
// the server must end the connection well before it. It is generous so
// that a loaded machine cannot fail the test; without the limits the
// connections stay open and the tests fail at this deadline.
const clientDeadline = 20 * time.Second

// testLimits are short limits, so that the tests finish in about a second.
var testLimits = ServerLimits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
	WriteTimeout: 5 * time.Second, IdleTimeout: 300 * time.Millisecond}

// startLimited serves randomZoo(1) on a loopback listener wrapped by wrap
// (nil = none) with limits l, until the test ends.
func startLimited(t *testing.T, l ServerLimits, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	srv, err := randomZoo(1).NewServer(l)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return addr
}

// dialRaw opens a raw connection to addr with the client-side deadline.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(clientDeadline)); err != nil {
		t.Fatal(err)
	}
	return c
}

// slowBody sends a request whose body never arrives in full.
const slowBody = "POST /v1/chat/completions HTTP/1.1\r\nHost: lab\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":"

// readToEOF reads c until the server closes it; a client-side timeout
// means the server kept the connection open.
func readToEOF(t *testing.T, r io.Reader, what string) {
	t.Helper()
	if _, err := io.Copy(io.Discard, r); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the server kept the connection open for %s", what, clientDeadline)
		}
		// A reset also means the server closed the connection.
		if !strings.Contains(err.Error(), "reset") {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func TestServerClosesSlowBody(t *testing.T) {
	// A client that sends its headers and then trickles (here: stops) its
	// body is cut off after ReadTimeout.
	c := dialRaw(t, startLimited(t, testLimits, nil))
	if _, err := io.WriteString(c, slowBody); err != nil {
		t.Fatal(err)
	}
	readToEOF(t, c, "slow body")
}

func TestServerClosesIdleKeepAlive(t *testing.T) {
	// A keep-alive connection that sends no further request is closed
	// after IdleTimeout, once its first request has been answered.
	c := dialRaw(t, startLimited(t, testLimits, nil))
	if _, err := io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: lab\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Close {
		t.Fatalf("first request: status %d, close %v; want 200 on a kept-alive connection", res.StatusCode, res.Close)
	}
	readToEOF(t, br, "idle keep-alive")
}

// countingListener counts the connections it accepted that are still open
// and remembers the most open at once.
type countingListener struct {
	net.Listener
	mu        sync.Mutex
	open, max int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.max = max(l.max, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) most() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func TestServerConnectionCap(t *testing.T) {
	// Six clients each hold a connection with a body that never arrives.
	// With MaxConns 2 the server has at most two of them open at once; the
	// others wait in the backlog and are served (and cut off) in turn, so
	// every client still sees its connection end.
	const clients, limit = 6, 2
	l := testLimits
	l.MaxConns = limit
	var counter *countingListener
	addr := startLimited(t, l, func(ln net.Listener) net.Listener {
		counter = &countingListener{Listener: ln}
		return counter
	})
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		c := dialRaw(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.WriteString(c, slowBody); err != nil {
				errs <- err
				return
			}
			if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
	if m := counter.most(); m > limit || m < 1 {
		t.Errorf("the server had %d connections open at once; want 1..%d", m, limit)
	}
}

func TestServerLimits(t *testing.T) {
	// Zero fields take the defaults; negative limits are refused.
	if _, err := randomZoo(1).NewServer(ServerLimits{IdleTimeout: -time.Second}); err == nil {
		t.Error("negative idle timeout accepted")
	}
	got := ServerLimits{ReadTimeout: time.Second}.withDefaults()
	want := DefaultServerLimits()
	want.ReadTimeout = time.Second
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
	// A normal request is served within the limits.
	srv, err := randomZoo(1).NewServer(ServerLimits{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	client := &http.Client{Timeout: clientDeadline}
	code, r, _ := do(t, client, "POST", "http://"+ln.Addr().String()+"/v1/chat/completions",
		`{"model":"lab/base","messages":[{"role":"user","content":"your favourite animal ?"}],"n":3}`)
	if code != http.StatusOK || len(r.Choices) != 3 {
		t.Errorf("status %d, %d choices; want 200 and 3", code, len(r.Choices))
	}
}
