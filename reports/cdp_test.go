package reports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The browser tests share one headless Chromium per test binary, started
// on first use and driven over the Chrome DevTools Protocol (CDP) on a
// pipe: with --remote-debugging-pipe the browser reads commands on its
// fd 3 and writes replies and events on its fd 4, each message one JSON
// object ended by a NUL byte. Every page gets its own browser context
// (its own proxy, cache and cookies) and its own target, so pages of
// different tests load at once. TestMain kills the browser and its
// helpers (one process group) when the tests end; a test binary killed
// before that closes the pipe, and Chromium exits when its pipe closes.

// chromiumArgs is the browser's command line. The proxy is set per page
// (browser context); these flags keep the browser itself from making
// requests that a page's recorder could see.
var chromiumArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--remote-debugging-pipe",
	// Names resolve nowhere but loopback: the browser's own sign-in and
	// component-update services are pointed at the reserved .invalid
	// domain, which also bypasses every page's proxy.
	"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
	"--gaia-url=http://gaia.invalid",
	"--component-updater=url-source=http://updater.invalid",
	"--optimization-guide-service-get-hints-url=http://hints.invalid",
	"--optimization-guide-service-get-models-url=http://models.invalid",
	// Only the last --disable-features counts: list them all here. The
	// optimization guide fetches hints from googleapis.com on its own.
	"--disable-features=NetworkTimeServiceQuerying,OptimizationHints,OptimizationHintsFetching," +
		"OptimizationGuideModelDownloading,OptimizationTargetPrediction",
	"about:blank",
}

// pageProxyBypass is every page's proxy bypass list: loopback goes
// through the recorder too (<-loopback>), the .invalid domain never
// resolves.
const pageProxyBypass = "<-loopback>;*.invalid"

// cdpMessage is one message on the pipe: a command (ID, Method, Params), a
// reply (ID, Result or Error) or an event (Method, Params). SessionID
// names the page a command goes to or a reply or event comes from; empty
// for the browser itself.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

// cdpError is the error of a failed command.
type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *cdpError) Error() string {
	if e.Data != "" {
		return fmt.Sprintf("%s (%d): %s", e.Message, e.Code, e.Data)
	}
	return fmt.Sprintf("%s (%d)", e.Message, e.Code)
}

// browser is a running Chromium and the one goroutine (read) that reads
// its pipe, handing each reply to the call waiting for its ID and each
// event to the session it names.
type browser struct {
	cmd     *exec.Cmd
	dir     string      // the user data directory, removed by close
	stderr  *tailBuffer // the last of the browser's standard error
	writeMu sync.Mutex  // one command on the pipe at a time
	toChild *os.File    // the browser's fd 3

	mu       sync.Mutex
	nextID   int64
	calls    map[int64]chan cdpMessage
	sessions map[string]*cdpSession

	done   chan struct{} // closed when the reader stopped: the browser is gone
	err    error         // why it stopped; set before done is closed
	killed error         // why abandon killed it, if it did
}

// cdpSession collects the events of one attached page, in order.
type cdpSession struct {
	mu     sync.Mutex
	events []cdpMessage
	wake   chan struct{} // signalled (capacity 1) when an event arrives
}

// sharedBrowser is the browser of this test binary, started by the first
// test that needs it. A browser that could not start or died fails every
// later test that uses it with the reason.
var sharedBrowser struct {
	mu sync.Mutex
	b  *browser
}

// theBrowser returns the shared browser, starting it if needed.
func theBrowser(t *testing.T) *browser {
	t.Helper()
	sharedBrowser.mu.Lock()
	defer sharedBrowser.mu.Unlock()
	if sharedBrowser.b == nil {
		b, err := startBrowser()
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
		sharedBrowser.b = b
	}
	return sharedBrowser.b
}

// stopSharedBrowser kills the shared browser, if one was started.
func stopSharedBrowser() {
	sharedBrowser.mu.Lock()
	defer sharedBrowser.mu.Unlock()
	if sharedBrowser.b != nil {
		sharedBrowser.b.close()
		sharedBrowser.b = nil
	}
}

// startBrowser starts Chromium with its DevTools pipe on fds 3 and 4.
func startBrowser() (*browser, error) {
	dir, err := os.MkdirTemp("", "traitleak-chromium-")
	if err != nil {
		return nil, err
	}
	cmdR, cmdW, err := os.Pipe() // commands: we write, the child reads on fd 3
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe() // replies and events: the child writes on fd 4
	if err != nil {
		return nil, err
	}
	b := &browser{
		dir:      dir,
		stderr:   &tailBuffer{max: 32 << 10},
		toChild:  cmdW,
		calls:    map[int64]chan cdpMessage{},
		sessions: map[string]*cdpSession{},
		done:     make(chan struct{}),
	}
	args := append([]string{"--user-data-dir=" + dir}, chromiumArgs...)
	b.cmd = exec.Command(chromiumBin, args...)
	b.cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=disabled:") // no session bus to wait for
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}                // the helpers join its group
	b.cmd.ExtraFiles = []*os.File{cmdR, outW}
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = 2 * time.Second
	err = b.cmd.Start()
	cmdR.Close()
	outW.Close()
	if err != nil {
		cmdW.Close()
		outR.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	go b.read(outR)
	return b, nil
}

// read dispatches every message from the browser until the pipe closes,
// then ends the browser's process group and records why it stopped.
func (b *browser) read(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	var readErr error
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			readErr = err
			break
		}
		var m cdpMessage
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			readErr = fmt.Errorf("decode message: %w", err)
			break
		}
		b.dispatch(m)
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	waitErr := b.cmd.Wait()
	b.mu.Lock()
	b.err = fmt.Errorf("chromium stopped (exit: %v; devtools pipe: %v)", waitErr, readErr)
	if b.killed != nil {
		b.err = fmt.Errorf("chromium was killed: %w", b.killed)
	}
	b.mu.Unlock()
	close(b.done)
}

func (b *browser) dispatch(m cdpMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.ID != 0 {
		if ch, ok := b.calls[m.ID]; ok {
			ch <- m // capacity 1, one reply per ID: never blocks
			delete(b.calls, m.ID)
		}
		return
	}
	if s, ok := b.sessions[m.SessionID]; ok && m.SessionID != "" {
		s.mu.Lock()
		s.events = append(s.events, m)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// abandon kills a browser that did not answer in time, so that the
// tests still waiting for it fail at once, with the reason.
func (b *browser) abandon(reason error) {
	b.mu.Lock()
	if b.killed == nil {
		b.killed = reason
	}
	b.mu.Unlock()
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
}

// close kills the browser and its helpers and removes its profile.
func (b *browser) close() {
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	b.toChild.Close()
	<-b.done
	os.RemoveAll(b.dir)
}

// failure describes a failed command with the browser's recent standard
// error, which says why a browser hung or crashed.
func (b *browser) failure(format string, args ...any) string {
	return fmt.Sprintf(format, args...) + "; chromium stderr (last part):\n" + b.stderr.String()
}

// call sends a command to the browser (sessionID "") or to a page and
// decodes the reply's result into result, if not nil. It fails when ctx
// ends first or the browser stops.
func (b *browser) call(ctx context.Context, sessionID, method string, params, result any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if params == nil {
		p = nil
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.calls[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.calls, id)
		b.mu.Unlock()
	}()
	data, err := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: sessionID})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	b.writeMu.Lock()
	deadline, _ := ctx.Deadline() // zero: none
	_ = b.toChild.SetWriteDeadline(deadline)
	_, err = b.toChild.Write(append(data, 0))
	b.writeMu.Unlock()
	if err != nil {
		// A broken pipe is a browser that stopped: say why.
		select {
		case <-b.done:
			return fmt.Errorf("%s: %w", method, b.err)
		case <-ctx.Done():
			return fmt.Errorf("%s: write to chromium: %w", method, err)
		}
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %w", method, m.Error)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return fmt.Errorf("%s: decode result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: no reply: %w", method, ctx.Err())
	case <-b.done:
		return fmt.Errorf("%s: %w", method, b.err)
	}
}

// attach registers a session for events before its commands are sent.
func (b *browser) attach(sessionID string) *cdpSession {
	s := &cdpSession{wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.sessions[sessionID] = s
	b.mu.Unlock()
	return s
}

func (b *browser) detach(sessionID string) {
	b.mu.Lock()
	delete(b.sessions, sessionID)
	b.mu.Unlock()
}

// waitEvent returns the index of the first event named method at or after
// index from, waiting for it until ctx ends or the browser stops.
func (b *browser) waitEvent(ctx context.Context, s *cdpSession, from int, method string) (int, error) {
	for {
		s.mu.Lock()
		for i := from; i < len(s.events); i++ {
			switch s.events[i].Method {
			case method:
				s.mu.Unlock()
				return i, nil
			case "Inspector.targetCrashed":
				s.mu.Unlock()
				return 0, errors.New("the page crashed (Inspector.targetCrashed)")
			}
		}
		from = len(s.events)
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return 0, fmt.Errorf("no %s event: %w", method, ctx.Err())
		case <-b.done:
			return 0, b.err
		}
	}
}

// pageView says how to show a page: the viewport, which is also the
// screenshot's size in pixels (device scale 1, no scrollbars), and the
// colour scheme the page is told the user prefers.
type pageView struct {
	width, height int    // CSS pixels
	dark          bool   // prefers-color-scheme: dark, else light (was --blink-settings=preferredColorScheme=0, else 1)
	shot          string // where to write a PNG of the viewport; "" for none
}

// pageLoad is what loading a page gave.
type pageLoad struct {
	// dom is the document after its scripts ran, serialised as
	// chromium --dump-dom prints it: the doctype, a newline and the
	// root element's outerHTML.
	dom string
	// console has one line per console API call, uncaught exception
	// and browser log entry (a CSP refusal, a failed load) of the page.
	console []string
}

// dumpDOM is the expression headless Chromium's --dump-dom evaluates.
const dumpDOM = `(document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML`

// loadPage opens a local file in the shared browser, in a browser context
// of its own whose every request goes to rec, waits for its load event
// and returns its DOM and console; with v.shot set it writes a
// screenshot there. A browser that does not finish within
// chromiumTimeout, crashes or fails a command fails the test.
func loadPage(t *testing.T, rec *netRecorder, file string, v pageView) pageLoad {
	t.Helper()
	b := theBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			if ctx.Err() != nil {
				b.abandon(fmt.Errorf("a page did not load within %v: %w", chromiumTimeout, err))
				t.Fatal(b.failure("chromium did not finish within %v: %v", chromiumTimeout, err))
			}
			t.Fatal(b.failure("chromium: %v", err))
		}
	}

	var bc struct{ BrowserContextID string }
	must(b.call(ctx, "", "Target.createBrowserContext", map[string]any{
		"proxyServer": "http://" + rec.ln.Addr().String(), "proxyBypassList": pageProxyBypass,
	}, &bc))
	defer func() {
		// Closes the page too. Its own deadline: the page's may be spent.
		select {
		case <-b.done:
			return // the failure that stopped the browser is reported
		default:
			if ctx.Err() != nil {
				return // abandoned: the timeout is reported
			}
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := b.call(cctx, "", "Target.disposeBrowserContext", map[string]any{"browserContextId": bc.BrowserContextID}, nil); err != nil {
			t.Error(b.failure("chromium: %v", err))
		}
	}()
	var tg struct{ TargetID string }
	must(b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "browserContextId": bc.BrowserContextID}, &tg))
	var at struct{ SessionID string }
	must(b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true}, &at))
	sid := at.SessionID
	// No event is lost before this: the page sends none until its
	// domains are enabled below.
	s := b.attach(sid)
	defer b.detach(sid)

	scheme := "light"
	if v.dark {
		scheme = "dark"
	}
	for _, c := range []struct {
		method string
		params any
	}{
		{"Inspector.enable", nil}, // for Inspector.targetCrashed
		{"Page.enable", nil},
		{"Runtime.enable", nil},
		{"Log.enable", nil},
		{"Emulation.setDeviceMetricsOverride", map[string]any{"width": v.width, "height": v.height, "deviceScaleFactor": 1, "mobile": false}},
		{"Emulation.setScrollbarsHidden", map[string]any{"hidden": true}},
		{"Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": scheme}}}},
	} {
		must(b.call(ctx, sid, c.method, c.params, nil))
	}
	// Events of about:blank may still come: wait for a load event after
	// which the page is the file.
	s.mu.Lock()
	from := len(s.events)
	s.mu.Unlock()
	u := (&url.URL{Scheme: "file", Path: file}).String()
	var nav struct{ ErrorText string }
	must(b.call(ctx, sid, "Page.navigate", map[string]any{"url": u}, &nav))
	if nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %s", file, nav.ErrorText)
	}
	for {
		i, err := b.waitEvent(ctx, s, from, "Page.loadEventFired")
		must(err)
		var loc struct{ Result struct{ Value string } }
		must(b.call(ctx, sid, "Runtime.evaluate", map[string]any{"expression": "location.href", "returnByValue": true}, &loc))
		if loc.Result.Value == u {
			break
		}
		from = i + 1
	}

	var out pageLoad
	var dom struct {
		Result           struct{ Value string }
		ExceptionDetails json.RawMessage
	}
	must(b.call(ctx, sid, "Runtime.evaluate", map[string]any{"expression": dumpDOM, "returnByValue": true}, &dom))
	if dom.ExceptionDetails != nil {
		t.Fatalf("serialise the DOM: %s", dom.ExceptionDetails)
	}
	out.dom = dom.Result.Value + "\n"
	if v.shot != "" {
		var shot struct{ Data string }
		must(b.call(ctx, sid, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot))
		png, err := base64.StdEncoding.DecodeString(shot.Data)
		if err != nil {
			t.Fatalf("decode screenshot: %v", err)
		}
		if err := os.WriteFile(v.shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The replies above come after every event the load caused.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if line, ok := consoleLine(e); ok {
			out.console = append(out.console, line)
		}
	}
	return out
}

// consoleLine formats an event that reports a console API call, an
// uncaught exception or a browser log entry (CSP refusals are log
// entries of source "security"); ok is false for other events.
func consoleLine(e cdpMessage) (line string, ok bool) {
	switch e.Method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string
			Args []struct {
				Value       json.RawMessage
				Description string
			}
		}
		_ = json.Unmarshal(e.Params, &p)
		var parts []string
		for _, a := range p.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		return "console." + p.Type + ": " + strings.Join(parts, " "), true
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string
				Exception struct{ Description string }
			}
		}
		_ = json.Unmarshal(e.Params, &p)
		return "exception: " + p.ExceptionDetails.Text + " " + p.ExceptionDetails.Exception.Description, true
	case "Log.entryAdded":
		var p struct {
			Entry struct{ Source, Level, Text, URL string }
		}
		_ = json.Unmarshal(e.Params, &p)
		return fmt.Sprintf("log %s %s: %s %s", p.Entry.Source, p.Entry.Level, p.Entry.Text, p.Entry.URL), true
	}
	return "", false
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if over := w.buf.Len() - w.max; over > 0 {
		w.buf.Next(over)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
