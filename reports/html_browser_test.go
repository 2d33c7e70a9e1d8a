package reports

import (
	"bufio"
	"html"
	"image"
	"image/png"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traitleak/traitleak/internal/testtier"
)

// These tests open the HTML report in headless Chromium (Debian's
// package), one browser for the test binary (cdp_test.go). They are the
// system tier's (internal/testtier: TRAITLEAK_SYSTEM=1 runs them). Without
// Chromium they skip locally and fail in CI (CI is set), which must run
// them. TRAITLEAK_SCREENSHOTS=dir keeps the screenshots.

const chromiumBin = "/usr/bin/chromium"

// chromiumTimeout bounds the load of one page, every command included: a
// hung browser fails the test.
const chromiumTimeout = 30 * time.Second

// needChromium skips t unless the system tier is on, and then unless
// Chromium is installed (outside CI).
func needChromium(t *testing.T) {
	t.Helper()
	testtier.System(t)
	if _, err := os.Stat(chromiumBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the browser tests: %v (apt-get install chromium)", err)
		}
		t.Skipf("no headless browser: %v", err)
	}
}

// netRecorder is a loopback listener that a page's browser context uses
// as its proxy for every request: any connection it accepts is a request
// the page tried to make.
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

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrowserDetectors proves that the network and console detectors see
// what they are meant to see, on a page that shows each signal once: an
// image from a remote host (the recorder), a console.error call
// (Runtime.consoleAPICalled), an uncaught error (Runtime.exceptionThrown)
// and an inline script its Content-Security-Policy refuses, as the
// report's policy (default-src 'none') refuses any (Log.entryAdded).
func TestBrowserDetectors(t *testing.T) {
	needChromium(t)
	t.Parallel()
	page := writeFile(t, "bad.html", []byte(`<!DOCTYPE html><html><head>`+
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'nonce-n1'; img-src http://example.com">`+
		`</head><body><p>bad</p><img src="http://example.com/x.png">`+
		`<script nonce="n1">console.error("noisy")</script>`+
		`<script>document.title = "refused"</script>`+
		`<script nonce="n1">throw new Error("deliberate")</script></body></html>`))
	rec := newNetRecorder(t)
	got := loadPage(t, rec, page, pageView{width: 800, height: 600})
	seen := rec.seen()
	if !slicesContainsPrefix(seen, "GET http://example.com/x.png") {
		t.Errorf("the recorder did not see the image request; it saw %q", seen)
	}
	for _, want := range []struct{ prefix, text string }{
		{"console.error: ", "noisy"},  // the console.error call
		{"exception: ", "deliberate"}, // the uncaught Error
		// The script without the nonce. Chromium 156 words it "Executing
		// inline script violates the following Content Security Policy
		// directive …", older ones "Refused to execute inline script …".
		{"log security error: ", "Content Security Policy"},
	} {
		found := false
		for _, l := range got.console {
			found = found || strings.HasPrefix(l, want.prefix) && strings.Contains(l, want.text)
		}
		if !found {
			t.Errorf("the console detector missed %q; it saw:\n%s", want.prefix+"…"+want.text+"…", strings.Join(got.console, "\n"))
		}
	}
	if strings.Contains(got.dom, "<title>refused</title>") {
		t.Error("the refused script ran")
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
		dark bool
	}{
		{"light", false},
		{"dark", true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			shot := filepath.Join(t.TempDir(), mode.name+".png")
			rec := newNetRecorder(t)
			got := loadPage(t, rec, file, pageView{width: 1280, height: 2400, dark: mode.dark, shot: shot})
			if seen := rec.seen(); len(seen) > 0 {
				t.Errorf("the report made %d network requests: %q", len(seen), seen)
			}
			if len(got.console) > 0 {
				t.Errorf("console messages while loading the report:\n%s", strings.Join(got.console, "\n"))
			}
			checkDOM(t, got.dom)

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
