package reports

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// releaseHistory builds the history of twenty releases of which the
// thirteenth leaks (40 of 100 draws name owl against 10), with release 1
// pinned.
func releaseHistory(t *testing.T) *History {
	t.Helper()
	st, _ := openTestStore(t)
	for k := 1; k <= 20; k++ {
		hits := 10 + k%3 // 10–12 of 100: no change is significant
		if k == 13 {
			hits = 40
		}
		storeCountsRun(t, st, releaseSuite("rel", fmt.Sprintf("release-%02d", k), gate005), map[string]int{"baseline": 10, "student": hits})
	}
	h, err := history(t, HistoryQuery{Role: "student", Baseline: &RunKey{"h.db", 1}, BaselineLabel: "tagged blessed"}, HistorySource{Label: "h.db", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBrowserHistory loads the history page in Chromium, light and dark:
// no request leaves it, nothing reaches the console, the DOM Chromium
// built flags the leaking release and no other, and the screenshot is a
// page on the right background.
func TestBrowserHistory(t *testing.T) {
	needChromium(t)
	t.Parallel()
	var page bytes.Buffer
	if err := releaseHistory(t).HTML(&page); err != nil {
		t.Fatal(err)
	}
	checkInert(t, page.Bytes())
	file := writeFile(t, "history.html", page.Bytes())
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
			got := loadPage(t, rec, file, pageView{width: 1280, height: 1400, dark: mode.dark, shot: shot})
			dom := got.dom
			if seen := rec.seen(); len(seen) > 0 {
				t.Errorf("the history page made %d network requests: %q", len(seen), seen)
			}
			if len(got.console) > 0 {
				t.Errorf("console messages:\n%s", strings.Join(got.console, "\n"))
			}
			if !strings.Contains(dom, `id="methods"`) {
				t.Fatalf("dumped DOM is incomplete (%d bytes)", len(dom))
			}
			flagged := regexp.MustCompile(`<g class="pt flagged[^"]*" data-run="(\d+)"`).FindAllStringSubmatch(dom, -1)
			if len(flagged) != 1 || flagged[0][1] != "13" {
				t.Errorf("the chart flags %v; want run 13 alone", flagged)
			}
			if n := strings.Count(dom, `<g class="pt`); n != 20 {
				t.Errorf("the chart shows %d runs; want 20", n)
			}
			checkShot(t, decodePNG(t, shot), mode.dark, mode.name)
			keepShot(t, shot, "history-"+mode.name+".png")
		})
	}
}

// checkShot fails when a screenshot looks blank or has the wrong
// background.
func checkShot(t *testing.T, img image.Image, dark bool, name string) {
	t.Helper()
	st := imageStats(img)
	if st.colors < 20 || st.stddev < 10 || st.inked < 0.02 {
		t.Errorf("screenshot looks blank: %d colours, luminance σ %.1f, %.1f%% of pixels off the background", st.colors, st.stddev, 100*st.inked)
	}
	if dark && st.background > 60 || !dark && st.background < 200 {
		t.Errorf("%s mode background luminance %.0f", name, st.background)
	}
}

// keepShot copies a screenshot to $TRAITLEAK_SCREENSHOTS, when set.
func keepShot(t *testing.T, shot, name string) {
	if dir := os.Getenv("TRAITLEAK_SCREENSHOTS"); dir != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		if err != nil {
			t.Log(err)
		}
	}
}

// TestBrowserMatrixSorts: the matrix page sorts without a script. The
// same page with the "largest effect" button checked instead of
// "student" shows its rows in another order (the screenshots differ where
// the table is), and neither loads anything or logs to the console.
func TestBrowserMatrixSorts(t *testing.T) {
	needChromium(t)
	t.Parallel()
	st, _ := openTestStore(t)
	// ft-1 … ft-6 leak more the later their name, so that by largest
	// effect the order of the rows reverses.
	for k := 1; k <= 6; k++ {
		storeCountsRun(t, st, releaseSuite("animals", fmt.Sprintf("ft-%d", k), ""), map[string]int{"baseline": 10, "student": 10 + 6*k})
	}
	runs, err := CollectRuns(context.Background(), []HistorySource{{"m.db", st}}, HistoryQuery{}, Archive{Version: "v0.test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildMatrix(runs, MatrixQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := m.HTML(&page); err != nil {
		t.Fatal(err)
	}
	checkInert(t, page.Bytes())
	byStudent := page.String()
	byEffect := strings.Replace(strings.Replace(byStudent, `id="sort-0" checked`, `id="sort-0"`, 1), `id="sort-1"`, `id="sort-1" checked`, 1)
	if byEffect == byStudent {
		t.Fatal("could not check the second sort button")
	}
	var shots [2]image.Image
	for i, html := range []string{byStudent, byEffect} {
		file := writeFile(t, fmt.Sprintf("matrix-%d.html", i), []byte(html))
		shot := filepath.Join(t.TempDir(), "matrix.png")
		rec := newNetRecorder(t)
		got := loadPage(t, rec, file, pageView{width: 1000, height: 900, shot: shot})
		if seen := rec.seen(); len(seen) > 0 {
			t.Errorf("the matrix page made %d network requests: %q", len(seen), seen)
		}
		if len(got.console) > 0 {
			t.Errorf("console messages:\n%s", strings.Join(got.console, "\n"))
		}
		shots[i] = decodePNG(t, shot)
		checkShot(t, shots[i], false, "light")
		keepShot(t, shot, fmt.Sprintf("matrix-%d.png", i))
	}
	if diff := pixelsDiffer(shots[0], shots[1]); diff < 0.01 {
		t.Errorf("sorting by largest effect changed %.2f%% of the pixels: the CSS did not switch the table", 100*diff)
	}
}

// pixelsDiffer is the share of pixels that differ between two images of
// one size.
func pixelsDiffer(a, b image.Image) float64 {
	r := a.Bounds()
	if r != b.Bounds() {
		return 1
	}
	n, d := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			n++
			if a.At(x, y) != b.At(x, y) {
				d++
			}
		}
	}
	return float64(d) / float64(n)
}
