package reports

import (
	"bufio"
	"bytes"
	"context"
	"html"
	"image"
	"image/png"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests open the HTML report in headless Chromium (Debian's
// package). Without it they skip locally and fail in CI (CI is set), which
// must run them. TRAITLEAK_SCREENSHOTS=dir keeps the screenshots.

const chromiumBin = "/usr/bin/chromium"

// chromiumTimeout bounds one browser run: a hung browser fails the test.
const chromiumTimeout = 30 * time.Second

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the browser tests: %v (apt-get install chromium)", err)
		}
		t.Skipf("no headless browser: %v", err)
	}
}

// netRecorder is a loopback listener that Chromium uses as its proxy for
// every request: any connection it accepts is a request the page (or the
// browser) tried to make.
type netRecorder struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	wg    sync.WaitGroup
}

func newNetRecorder(t *testing.T) *netRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &netRecorder{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go r.serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		r.wg.Wait()
	})
	return r
}

// serve records the request line and refuses the request.
func (r *netRecorder) serve(c net.Conn) {
	defer r.wg.Done()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	r.mu.Lock()
	r.lines = append(r.lines, strings.TrimSpace(line))
	r.mu.Unlock()
	_, _ = c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
}

func (r *netRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// runChromium opens a local file in headless Chromium with every request
// sent to rec, and returns its standard output and error. Extra flags
// choose what it does (--dump-dom, --screenshot).
func runChromium(t *testing.T, rec *netRecorder, file string, extra ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0",
		// Every request goes to the recorder, loopback included...
		"--proxy-server=http://" + rec.ln.Addr().String(),
		// ...except the reserved .invalid domain, which never resolves:
		// the browser's own sign-in and component-update services are
		// pointed there below, so that only the page can reach the
		// recorder.
		"--proxy-bypass-list=<-loopback>;*.invalid",
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
		"--gaia-url=http://gaia.invalid",
		"--component-updater=url-source=http://updater.invalid",
		"--optimization-guide-service-get-hints-url=http://hints.invalid",
		"--optimization-guide-service-get-models-url=http://models.invalid",
		// Only the last --disable-features counts: list them all here. The
		// optimization guide fetches hints from googleapis.com on its own.
		"--disable-features=NetworkTimeServiceQuerying,OptimizationHints,OptimizationHintsFetching," +
			"OptimizationGuideModelDownloading,OptimizationTargetPrediction",
	}
	args = append(append(args, extra...), "file://"+file)
	cmd := exec.CommandContext(ctx, chromiumBin, args...)
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=disabled:") // no session bus to wait for
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		// Chromium's helpers share its process group: end any left over.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within %v; stderr:\n%s", chromiumTimeout, errb.String())
	}
	if err != nil {
		t.Fatalf("chromium: %v; stderr:\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleLines returns the lines of Chromium's log that report console
// messages, uncaught exceptions or blocked loads.
func consoleLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") || strings.Contains(l, "Refused to") {
			out = append(out, l)
		}
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrowserDetectors proves that the network and console detectors see
// what they are meant to see: a page that loads an image from a remote
// host and throws an error.
func TestBrowserDetectors(t *testing.T) {
	needChromium(t)
	t.Parallel()
	page := writeFile(t, "bad.html", []byte(`<!DOCTYPE html><html><body><p>bad</p>`+
		`<img src="http://example.com/x.png"><script>throw new Error("deliberate")</script></body></html>`))
	rec := newNetRecorder(t)
	_, stderr := runChromium(t, rec, page, "--dump-dom")
	seen := rec.seen()
	if !slicesContainsPrefix(seen, "GET http://example.com/x.png") {
		t.Errorf("the recorder did not see the image request; it saw %q", seen)
	}
	if lines := consoleLines(stderr); len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), "deliberate") {
		t.Errorf("the console detector missed the uncaught error; stderr:\n%s", stderr)
	}
}

func slicesContainsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestBrowserReport loads the report in light and dark mode, reads the
// DOM Chromium built and looks at its screenshot: the payloads are text,
// no element came from model or suite text, no request left the page,
// nothing reached the console, and the picture shows a page on the right
// background rather than a blank.
func TestBrowserReport(t *testing.T) {
	needChromium(t)
	t.Parallel()
	_, page := fixtureHTML(t)
	file := writeFile(t, "report.html", page)
	for _, mode := range []struct {
		name string
		flag string
		dark bool
	}{
		{"light", "--blink-settings=preferredColorScheme=1", false},
		{"dark", "--blink-settings=preferredColorScheme=0", true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			shot := filepath.Join(t.TempDir(), mode.name+".png")
			rec := newNetRecorder(t)
			dom, stderr := runChromium(t, rec, file, mode.flag, "--dump-dom", "--screenshot="+shot, "--window-size=1280,2400", "--hide-scrollbars")
			if seen := rec.seen(); len(seen) > 0 {
				t.Errorf("the report made %d network requests: %q", len(seen), seen)
			}
			if lines := consoleLines(stderr); len(lines) > 0 {
				t.Errorf("console messages while loading the report:\n%s", strings.Join(lines, "\n"))
			}
			checkDOM(t, dom)

			img := decodePNG(t, shot)
			if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
				t.Errorf("screenshot is %v; want 1280×2400", b.Size())
			}
			st := imageStats(img)
			if st.colors < 40 || st.stddev < 12 || st.inked < 0.03 {
				t.Errorf("screenshot looks blank: %d colours, luminance σ %.1f, %.1f%% of pixels off the background",
					st.colors, st.stddev, 100*st.inked)
			}
			if mode.dark && st.background > 60 || !mode.dark && st.background < 200 {
				t.Errorf("%s mode background luminance %.0f", mode.name, st.background)
			}
			if dir := os.Getenv("TRAITLEAK_SCREENSHOTS"); dir != "" {
				data, err := os.ReadFile(shot)
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, "report-"+mode.name+".png"), data, 0o644)
				}
				if err != nil {
					t.Log(err)
				}
			}
		})
	}
}

// checkDOM checks the DOM Chromium serialised: complete, no element that
// runs or fetches, the payloads present as text.
func checkDOM(t *testing.T, dom string) {
	t.Helper()
	if !strings.Contains(dom, "</html>") || !strings.Contains(dom, `id="methods"`) {
		t.Fatalf("dumped DOM is incomplete (%d bytes)", len(dom))
	}
	counts := map[string]int{}
	for _, tg := range scanTags([]byte(dom)) {
		counts[tg.name]++
		for k := range tg.attrs {
			if strings.HasPrefix(k, "on") {
				t.Errorf("<%s> has an event handler %s", tg.name, k)
			}
		}
	}
	for _, name := range []string{"script", "img", "iframe", "object", "embed", "link"} {
		if counts[name] > 0 {
			t.Errorf("the DOM has %d <%s> elements", counts[name], name)
		}
	}
	if counts["svg"] == 0 || counts["table"] == 0 {
		t.Errorf("the DOM lacks charts or tables: %v", counts)
	}
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dom, " "))
	for _, want := range []string{"Which animal | <script>alert(1)</script>?", "**Owl** | <img src=x onerror=alert(1)>", "<b>bold</b>"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page text lacks %q", want)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	return img
}

type pictureStats struct {
	colors     int     // distinct colours, 4 bits per channel
	stddev     float64 // of luminance, 0–255
	inked      float64 // share of pixels far from the background
	background float64 // luminance of the top-left corner
}

func imageStats(img image.Image) pictureStats {
	b := img.Bounds()
	lum := func(x, y int) (float64, uint32) {
		r, g, bl, _ := img.At(x, y).RGBA()
		key := r>>12<<8 | g>>12<<4 | bl>>12
		return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257, key
	}
	bg, _ := lum(b.Min.X+2, b.Min.Y+2)
	colors := map[uint32]bool{}
	var sum, sum2 float64
	inked, n := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			l, k := lum(x, y)
			colors[k] = true
			sum += l
			sum2 += l * l
			if math.Abs(l-bg) > 40 {
				inked++
			}
			n++
		}
	}
	mean := sum / float64(n)
	return pictureStats{colors: len(colors), stddev: math.Sqrt(math.Max(0, sum2/float64(n)-mean*mean)),
		inked: float64(inked) / float64(n), background: bg}
}
