package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
)

func fixtureHTML(t *testing.T) (*Analysis, []byte) {
	t.Helper()
	a, err := Analyze(fixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := HTML(&buf, a); err != nil {
		t.Fatal(err)
	}
	return a, buf.Bytes()
}

func TestGoldenHTML(t *testing.T) {
	t.Parallel()
	a, page := fixtureHTML(t)
	golden(t, "fixture.html", page)
	checkInert(t, page)
	s := string(page)

	// Suite and model text is present, escaped.
	for _, want := range []string{
		"Which animal | &lt;script&gt;alert(1)&lt;/script&gt;?", // a prompt
		"**Owl** | &lt;img src=x onerror=alert(1)&gt;",          // a completion
		"A | pipe, &lt;b&gt;bold&lt;/b&gt; and *stars*",         // the description
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks the escaped text %q", want)
		}
	}
	for _, raw := range []string{"<script>alert(1)", "<img src=x", "<b>bold", "<i>"} {
		if strings.Contains(s, raw) {
			t.Errorf("report contains unescaped %q", raw)
		}
	}
	// onerror appears only inside the escaped completion.
	if n, m := strings.Count(s, "onerror"), strings.Count(s, "&lt;img src=x onerror=alert(1)&gt;"); n != m {
		t.Errorf("onerror appears %d times, %d of them escaped", n, m)
	}

	// Every chart is an inline <svg>, labelled with its title.
	charts, err := Charts(a)
	if err != nil {
		t.Fatal(err)
	}
	tags := scanTags(page)
	svgs := 0
	for _, tg := range tags {
		if tg.name == "svg" {
			svgs++
		}
	}
	if len(charts) == 0 || svgs != len(charts) {
		t.Errorf("%d inline <svg> elements for %d charts", svgs, len(charts))
	}
	for _, c := range charts {
		if !strings.Contains(s, `<svg viewBox="0 0 `) || !strings.Contains(s, `aria-label="`+html.EscapeString(c.Title)+`"`) {
			t.Errorf("chart %s is not inlined as <svg aria-label=%q>", c.Name, c.Title)
		}
	}

	// Sections a reader looks for.
	for _, want := range []string{
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
		`id="summary"`, `id="gates"`, `id="charts"`, `id="comparisons"`, `id="models"`, `id="targets"`, `id="prompts"`, `id="methods"`, `id="notes"`,
		"published, not measured", "not measured in this run",
		`<span class="badge fail">FAIL</span>`, `<span class="badge undecided">UNDECIDED</span>`,
		"<details>", "@media print", "prefers-color-scheme: dark",
		a.SuiteHash, "v0.test", "2026-11-27 12:00:00 UTC",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// checkInert fails unless the page can run nothing and load nothing.
func checkInert(t *testing.T, page []byte) {
	t.Helper()
	for _, p := range inertProblems(page) {
		t.Error(p)
	}
}

// inertProblems lists what lets a page run or load something: a script,
// an element that fetches, an event handler, a URL with a scheme or host
// in a URL attribute, url() in CSS.
func inertProblems(page []byte) []string {
	var out []string
	errorf := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	lower := strings.ToLower(string(page))
	for _, bad := range []string{"<script", "javascript:", "url(", "@import", "@font-face"} {
		if strings.Contains(lower, bad) {
			errorf("page contains %q", bad)
		}
	}
	urlAttrs := map[string]bool{"src": true, "href": true, "xlink:href": true, "action": true, "formaction": true,
		"poster": true, "data": true, "srcset": true, "background": true, "ping": true}
	fetching := map[string]bool{"script": true, "img": true, "image": true, "iframe": true, "object": true, "embed": true,
		"link": true, "video": true, "audio": true, "source": true, "use": true, "form": true, "base": true, "frame": true}
	for _, tg := range scanTags(page) {
		if fetching[tg.name] {
			errorf("page has a <%s> element", tg.name)
		}
		for k, v := range tg.attrs {
			if k == "style" && strings.Contains(strings.ToLower(v), "url(") {
				errorf("<%s style=%q> loads a URL", tg.name, v)
			}
			if !urlAttrs[k] && !strings.HasPrefix(k, "on") {
				continue
			}
			if strings.HasPrefix(k, "on") {
				errorf("<%s> has an event handler %s=%q", tg.name, k, v)
				continue
			}
			lv := strings.ToLower(strings.TrimSpace(v))
			if strings.Contains(lv, "://") || strings.HasPrefix(lv, "//") {
				errorf("<%s %s=%q> points outside the page", tg.name, k, v)
			}
			if k == "href" && !strings.HasPrefix(lv, "#") {
				errorf("<%s href=%q> is not a link within the page", tg.name, v)
			}
		}
	}
	return out
}

// tag is a start tag found by scanTags.
type tag struct {
	name  string
	attrs map[string]string
}

// scanTags returns the start tags of an HTML document, attribute values
// unescaped. It skips comments, doctype and end tags, honours quoted
// attribute values (which may hold "<" and ">"), and treats the text of
// <style> as raw text. It is enough for serialised, well-formed pages.
func scanTags(page []byte) []tag {
	s := string(page)
	var out []tag
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		switch {
		case strings.HasPrefix(s[i:], "<!--"):
			end := strings.Index(s[i:], "-->")
			if end < 0 {
				return out
			}
			i += end + 3
			continue
		case i+1 < len(s) && (s[i+1] == '!' || s[i+1] == '/' || s[i+1] == '?'):
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return out
			}
			i += end + 1
			continue
		case i+1 >= len(s) || !isLetter(s[i+1]):
			i++
			continue
		}
		j := i + 1
		for j < len(s) && !isSpace(s[j]) && s[j] != '>' && s[j] != '/' {
			j++
		}
		tg := tag{name: strings.ToLower(s[i+1 : j]), attrs: map[string]string{}}
		// Attributes.
		for j < len(s) && s[j] != '>' {
			for j < len(s) && (isSpace(s[j]) || s[j] == '/') {
				j++
			}
			if j >= len(s) || s[j] == '>' {
				break
			}
			k := j
			for j < len(s) && !isSpace(s[j]) && s[j] != '=' && s[j] != '>' && s[j] != '/' {
				j++
			}
			name := strings.ToLower(s[k:j])
			val := ""
			for j < len(s) && isSpace(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '=' {
				j++
				for j < len(s) && isSpace(s[j]) {
					j++
				}
				if j < len(s) && (s[j] == '"' || s[j] == '\'') {
					q := s[j]
					end := strings.IndexByte(s[j+1:], q)
					if end < 0 {
						return append(out, tg)
					}
					val = s[j+1 : j+1+end]
					j += end + 2
				} else {
					k := j
					for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
						j++
					}
					val = s[k:j]
				}
			}
			tg.attrs[name] = html.UnescapeString(val)
		}
		out = append(out, tg)
		i = j + 1
		if tg.name == "style" || tg.name == "script" || tg.name == "title" || tg.name == "textarea" {
			end := strings.Index(strings.ToLower(s[min(i, len(s)):]), "</"+tg.name)
			if end < 0 {
				break
			}
			i += end
		}
	}
	return out
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isSpace(c byte) bool  { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' }

func TestScanTags(t *testing.T) {
	t.Parallel()
	got := scanTags([]byte(`<!DOCTYPE html><!-- <img src=no> --><p title="a <b> c" id=x>t &lt;img&gt;</p><style>a<b{}</style><IMG SRC='http://h/x'>`))
	var names []string
	for _, tg := range got {
		names = append(names, tg.name)
	}
	if strings.Join(names, ",") != "p,style,img" {
		t.Fatalf("tags %v; want p,style,img", names)
	}
	if got[0].attrs["title"] != "a <b> c" || got[0].attrs["id"] != "x" || got[2].attrs["src"] != "http://h/x" {
		t.Errorf("attributes %v %v", got[0].attrs, got[2].attrs)
	}
}

// TestCheckInertCatches proves that the structural checks can fail.
func TestCheckInertCatches(t *testing.T) {
	t.Parallel()
	for _, page := range []string{
		`<p><script>x</script></p>`,
		`<img src="data:,">`,
		`<a href="https://example.com/">x</a>`,
		`<a href="//example.com/">x</a>`,
		`<p style="background:url(x.png)">`,
		`<svg><image xlink:href="http://example.com/x.png"/></svg>`,
		`<p onclick="x()">`,
	} {
		if len(inertProblems([]byte(page))) == 0 {
			t.Errorf("inertProblems passed %q", page)
		}
	}
}

func TestHTMLDeterministic(t *testing.T) {
	t.Parallel()
	_, a := fixtureHTML(t)
	_, b := fixtureHTML(t)
	if !bytes.Equal(a, b) {
		t.Fatal("the same run rendered two different pages")
	}
	an, err := Analyze(fixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := Charts(an)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Charts(an)
	if err != nil {
		t.Fatal(err)
	}
	if len(c1) != len(c2) {
		t.Fatalf("%d charts, then %d", len(c1), len(c2))
	}
	for i := range c1 {
		if c1[i].Name != c2[i].Name || !bytes.Equal(c1[i].SVG, c2[i].SVG) {
			t.Errorf("chart %s rendered differently twice", c1[i].Name)
		}
	}
}

func TestCharts(t *testing.T) {
	t.Parallel()
	a, err := Analyze(fixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	charts, err := Charts(a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"favorite-animal-owl-rates.svg", "favorite-animal-owl-seeds.svg", "favorite-animal-owl-prompts.svg",
		"favorite-animal-dog-rates.svg", "favorite-animal-dog-seeds.svg", "favorite-animal-dog-prompts.svg",
	}
	var names []string
	for _, c := range charts {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("charts %v; want %v", names, want)
	}
	safe := regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.svg$`)
	for _, c := range charts {
		if !safe.MatchString(c.Name) || c.Title == "" {
			t.Errorf("chart %q (%q): want a file-safe name and a title", c.Name, c.Title)
		}
		svg := string(c.SVG)
		if !strings.HasPrefix(svg, `<svg xmlns="http://www.w3.org/2000/svg" `) || !strings.Contains(svg, "viewBox=") {
			t.Errorf("%s: not a standalone SVG with a viewBox: %.80q", c.Name, svg)
		}
		// Nothing but the namespace names a URL; no fonts or images load.
		if n := strings.Count(svg, "http"); n != 1 {
			t.Errorf("%s: %d URLs; want only the SVG namespace", c.Name, n)
		}
		for _, bad := range []string{"<?xml", "<image", "<script", "@font-face", "url(", "#000000"} {
			if strings.Contains(svg, bad) {
				t.Errorf("%s contains %q", c.Name, bad)
			}
		}
		if !strings.Contains(svg, "currentColor") || !strings.Contains(svg, "font-family:Liberation Sans,") {
			t.Errorf("%s: text is not drawn in currentColor with a font fallback", c.Name)
		}
		// Well-formed XML.
		dec := xml.NewDecoder(bytes.NewReader(c.SVG))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: not well-formed: %v", c.Name, err)
				break
			}
		}
	}
	// The rates chart marks the published figures and says so.
	if !strings.Contains(string(charts[0].SVG), "published (paper)") {
		t.Error("rates chart lacks the legend entry for published figures")
	}
}

func TestChartNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Favorite Animal": "favorite-animal", "../x/y": "x-y", "ÉÀ": "x", "a--b__c": "a-b-c"} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q; want %q", in, got, want)
		}
	}
	taken := map[string]bool{}
	if a, b := uniqueName(taken, "x.svg"), uniqueName(taken, "x.svg"); a != "x.svg" || b != "x-2.svg" {
		t.Errorf("uniqueName gave %q, %q", a, b)
	}
}

func TestChartLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dir, want string }{
		{"", "a.svg"},
		{".", "a.svg"},
		{"charts", "charts/a.svg"},
		{"my charts (v2)/", "my%20charts%20%28v2%29/a.svg"},
		{"../out", "../out/a.svg"},
	} {
		if got := chartLink(tc.dir, "a.svg"); got != tc.want {
			t.Errorf("chartLink(%q) = %q; want %q", tc.dir, got, tc.want)
		}
	}
}

func TestMarkdownWithCharts(t *testing.T) {
	t.Parallel()
	a, err := Analyze(fixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	charts, err := Charts(a)
	if err != nil {
		t.Fatal(err)
	}
	var plain, with bytes.Buffer
	if err := Markdown(&plain, a); err != nil {
		t.Fatal(err)
	}
	if err := MarkdownWithCharts(&with, a, charts, "report charts"); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(with.Bytes(), plain.Bytes()) {
		t.Fatal("MarkdownWithCharts does not start with the Markdown report")
	}
	tail := with.String()[plain.Len():]
	for _, want := range []string{
		"## Charts",
		"![favorite-animal / owl: rate by model, seeds pooled](report%20charts/favorite-animal-owl-rates.svg)",
		"(report%20charts/favorite-animal-dog-prompts.svg)",
	} {
		if !strings.Contains(tail, want) {
			t.Errorf("charts section lacks %q:\n%s", want, tail)
		}
	}
	with.Reset()
	if err := MarkdownWithCharts(&with, a, charts, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(with.String(), "](favorite-animal-owl-rates.svg)") {
		t.Error("charts beside the report are not linked by bare name")
	}
}

// TestHTMLEmptyAnalysis renders an analysis with no data, as decoded from
// JSON: no panic, still inert.
func TestHTMLEmptyAnalysis(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := HTML(&buf, &Analysis{Suite: "empty", Status: "failed", Confidence: 0.95, Adjust: "holm"}); err != nil {
		t.Fatal(err)
	}
	checkInert(t, buf.Bytes())
	if !strings.Contains(buf.String(), `<span class="badge fail">failed</span>`) {
		t.Error("status badge missing")
	}
}

// TestHTMLUndefinedRates renders rates over zero samples (NaN) without
// failing: no bar, no mark, "–" in tables.
func TestHTMLUndefinedRates(t *testing.T) {
	t.Parallel()
	nan := Num(math.NaN())
	none := CI{Low: nan, High: nan, Method: methodWilson}
	cmp := &Comparison{Probe: "p", Target: "t", Treatment: "seeded", Baseline: "empty", TreatmentRate: 0.5, BaselineRate: nan,
		Diff: nan, CI: none, PValue: nan, PAdjusted: nan, CohenH: nan, OddsRatio: nan, OddsRatioCI: none}
	a := &Analysis{Suite: "nan", Status: "interrupted", Confidence: 0.95, Adjust: "holm",
		Probes: []ProbeAnalysis{{ID: "p", Samples: 1, Roles: []string{"empty", "seeded"}, Prompts: []Prompt{{0, "a"}, {1, "b"}},
			Targets: []TargetAnalysis{{Probe: "p", Target: "t",
				Roles: []RoleResult{
					{Role: "empty", Probe: "p", Target: "t", Rate: nan, CI: none},
					{Role: "seeded", Probe: "p", Target: "t", Seeds: 2, N: 4, Hits: 2, Rate: 0.5, CI: CI{Low: 0.15, High: 0.85},
						SeedMean: &SeedMean{Mean: 0.5, CI: none, Values: []Num{0.5, 0.5}}},
				},
				Results: []Result{{Role: "empty", Probe: "p", Target: "t", Rate: nan, CI: none},
					{Role: "seeded", Seed: "a", Probe: "p", Target: "t", N: 2, Hits: 1, Rate: 0.5, CI: CI{Low: 0.1, High: 0.9}},
					{Role: "seeded", Seed: "b", Probe: "p", Target: "t", N: 2, Hits: 1, Rate: 0.5, CI: CI{Low: 0.1, High: 0.9}}},
				PerPrompt: []PromptRates{
					{Role: "empty", Probe: "p", Target: "t", Rates: []PromptRate{{Prompt: 0, Rate: nan, CI: none}, {Prompt: 1, Rate: nan, CI: none}}},
					{Role: "seeded", Probe: "p", Target: "t", Rates: []PromptRate{{Prompt: 0, N: 2, Hits: 2, Rate: 1, CI: CI{Low: 0.3, High: 1}}, {Prompt: 1, N: 2, Rate: 0, CI: CI{Low: 0, High: 0.7}}}},
				},
				Comparisons: []*Comparison{cmp},
				References:  []ReferenceRow{{Probe: "p", Target: "t", Label: "elsewhere", Condition: "teacher", Rate: 0.9, Source: "somewhere"}},
			}},
		}},
		Comparisons: []*Comparison{cmp},
	}
	charts, err := Charts(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) != 3 {
		t.Errorf("%d charts; want rates, seeds and prompts", len(charts))
	}
	var buf bytes.Buffer
	if err := HTML(&buf, a); err != nil {
		t.Fatal(err)
	}
	checkInert(t, buf.Bytes())
	if !strings.Contains(buf.String(), "no role with this condition") {
		t.Error("a published figure without a matching role is not flagged")
	}
}
