package suites

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// FuzzParseSuite checks that Parse never panics, never hangs, that every
// error is a *SuiteError located in the file or naming the limit it
// enforces, and that what the limits let through stays within them for
// the parser (checkParserBounds). Run it with
//
//	go test ./suites -run='^$' -fuzz=FuzzParseSuite -fuzztime=60s
func FuzzParseSuite(f *testing.F) {
	for _, name := range BuiltinNames() {
		src, err := BuiltinSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(issueSuite))
	f.Add([]byte(setSuite))
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.src))
	}
	for _, tt := range limitTests {
		if len(tt.src) <= 20_000 {
			f.Add([]byte(tt.src))
		}
	}
	f.Add([]byte("name: s\nmodels:\n  a: &m {model: m1}\n  b: *m\nprobes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]\n"))
	f.Add([]byte("\ufeff" + issueSuite))

	f.Fuzz(func(t *testing.T, src []byte) {
		// Prompt files are confined to the working directory (the
		// package's): /dev/zero, FIFOs and ../ are refused, not read.
		s, err := parseWithin(t, src, nil)
		if text, perr := prescan("t.yaml", src); perr == nil {
			checkParserBounds(t, src, text) // the limits hold for the parser
		}
		if err != nil {
			checkFuzzError(t, src, err)
			return
		}
		checkLoadedSuite(t, src, s, nil)
	})
}

// FuzzOverride checks --set strings against a valid suite: no panics,
// and every error is at the override or in the file.
func FuzzOverride(f *testing.F) {
	for _, tt := range setErrorTests {
		for _, kv := range tt.sets {
			f.Add(kv)
		}
	}
	for _, kv := range []string{
		"probes[0].samples=7", "probes.0.samples=7", "probes.favorite-animal.samples=7",
		"vars.target=eagle", "defaults.top_p=0.5", "models.x.model=m", "probes.0.score={mentions: owl}",
		"probes.0.prompts=[a, b]", "defaults.max_tokens=", "description=a=b", "compare[0]={treatment: student, baseline: baseline}",
	} {
		f.Add(kv)
	}
	f.Fuzz(func(t *testing.T, kv string) {
		sets := []string{kv}
		s, err := parseWithin(t, []byte(setSuite), sets)
		if err == nil {
			checkLoadedSuite(t, []byte(setSuite), s, sets)
			return
		}
		var se *SuiteError
		if !errors.As(err, &se) {
			t.Fatalf("Parse(setSuite, %q) error = %q (%T); want a *SuiteError", sets, err, err)
		}
		switch se.Pos.File {
		case "--set " + kv:
			// The override (its syntax, path or value) is at fault.
		case "t.yaml":
			// The override broke something the file says (a reference to a
			// renamed role, a ${var} that now has a bad value): located in
			// the file, so it must have a line.
			if se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("Parse(setSuite, %q) error = %q; want a line and column in t.yaml", sets, err)
			}
		default:
			t.Fatalf("Parse(setSuite, %q) error = %q; want it located at %q or in t.yaml", sets, err, "--set "+kv)
		}
	})
}

// parseTimeout bounds one Parse call. Loading a small file takes
// microseconds; seconds mean a hang or an exponential blow-up.
const parseTimeout = 10 * time.Second

// parseWithin is Parse("t.yaml", src, "", sets) that fails the test
// instead of hanging. A Parse that times out is abandoned.
func parseWithin(t *testing.T, src []byte, sets []string) (*Suite, error) {
	t.Helper()
	type result struct {
		s   *Suite
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Parse("t.yaml", src, "", sets)
		done <- result{s, err}
	}()
	timer := time.NewTimer(parseTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.s, r.err
	case <-timer.C:
		// On a loaded machine both may be ready: prefer the result.
		select {
		case r := <-done:
			return r.s, r.err
		default:
		}
		t.Fatalf("Parse(%q, %q) still running after %v", src, sets, parseTimeout)
		return nil, nil
	}
}

// checkFuzzError checks an error from Parse("t.yaml", src, "", nil).
func checkFuzzError(t *testing.T, src []byte, err error) {
	t.Helper()
	var se *SuiteError
	if !errors.As(err, &se) {
		t.Fatalf("Parse(%q) error = %q (%T); want a *SuiteError", src, err, err)
	}
	if se.Pos.File != "t.yaml" {
		t.Fatalf("Parse(%q) error = %q; want it located in t.yaml", src, err)
	}
	// A limit of the whole file has no line, and says so.
	if se.Pos.Line == 0 && strings.Contains(se.Msg, "the limit for a suite file") {
		return
	}
	// Every error about the file has a line. (Errors located at a --set
	// override have none; FuzzOverride covers those.) In node.go three
	// fallbacks would produce a line-less position: yamlError for a
	// goccy/go-yaml error without a token, posOf for a node without one,
	// and converter.convert for a nil node outside a mapping value. None
	// was reached in fuzzing; if one is, this fails and shows the input.
	if se.Pos.Line < 1 {
		t.Fatalf("Parse(%q) error = %q; want a line number", src, err)
	}
	// A position is inside the file: on one of its lines (or the line
	// after the last, where goccy/go-yaml reports an unexpected end).
	// YAML breaks lines at LF, CRLF and a lone CR.
	lines := bytes.Count(bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n")), []byte("\n")) +
		bytes.Count(bytes.ReplaceAll(src, []byte("\r\n"), nil), []byte("\r")) + 1
	if se.Pos.Line > lines+1 || se.Pos.Col < 1 {
		t.Fatalf("Parse(%q) error = %q; want line in [1, %d] and column ≥ 1", src, err, lines+1)
	}
	if !strings.HasPrefix(se.Error(), se.Pos.String()+": ") {
		t.Fatalf("Parse(%q) error = %q; want it to start with %q", src, err, se.Pos.String())
	}
}

// checkLoadedSuite checks invariants of a suite that loaded.
func checkLoadedSuite(t *testing.T, src []byte, s *Suite, sets []string) {
	t.Helper()
	ins := s.Instances()
	if len(ins) == 0 || len(s.Probes) == 0 {
		t.Fatalf("Parse(%q, %q) = %d instances, %d probes; want some of each", src, sets, len(ins), len(s.Probes))
	}
	for _, in := range ins {
		st := in.Settings
		if st.Temperature == nil || st.N == nil || st.Concurrency == nil || st.RequestsPerMinute == nil ||
			st.TokensPerMinute == nil || st.Timeout == nil || st.MaxRetries == nil || st.SendSeed == nil {
			t.Fatalf("Parse(%q, %q): instance %s has unresolved settings %s", src, sets, in.Name(), formatSettings(st))
		}
		if in.Model == "" || in.BaseURL == "" {
			t.Fatalf("Parse(%q, %q): instance %s has model %q, base URL %q", src, sets, in.Name(), in.Model, in.BaseURL)
		}
	}
	for _, p := range s.Probes {
		if len(p.Prompts.Texts) == 0 || p.Score.Kind() == "" {
			t.Fatalf("Parse(%q, %q): probe %s has %d prompts, scorer %q", src, sets, p.ID, len(p.Prompts.Texts), p.Score.Kind())
		}
	}
	h, panicked := hash(s)
	if panicked != nil {
		t.Fatalf("Parse(%q, %q).Hash() panics: %v", src, sets, panicked)
	}
	// Loading is deterministic.
	again, err := Parse("t.yaml", src, "", sets)
	if err != nil {
		t.Fatalf("Parse(%q, %q) succeeded, then failed: %v", src, sets, err)
	}
	if h2, _ := hash(again); h2 != h {
		t.Fatalf("Parse(%q, %q).Hash() = %s, then %s", src, sets, h, h2)
	}
}

// hash returns s.Hash(), or the value it panicked with.
func hash(s *Suite) (h string, panicked any) {
	defer func() { panicked = recover() }()
	return s.Hash(), nil
}

// FuzzPrescan checks that the byte scan is conservative: for a text it
// accepts that parses, the nesting it saw is at least that of the syntax
// tree, as checkParserBounds checks of the token check. goccy/go-yaml
// reads some odd texts its own way (a "-" ending a line takes a mapping
// at the same indentation as its item, say); each case found is a seed in
// testdata/fuzz/FuzzPrescan. The token check is what guarantees the
// bound, so CI runs FuzzParseSuite, not this.
//
//	go test ./suites -run='^$' -fuzz=FuzzPrescan -fuzztime=60s
func FuzzPrescan(f *testing.F) {
	for _, name := range BuiltinNames() {
		src, err := BuiltinSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, tt := range limitTests {
		if len(tt.src) <= 20_000 {
			f.Add([]byte(tt.src))
		}
	}
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		text, err := prescan("t.yaml", src)
		if err != nil {
			checkFuzzError(t, src, err)
			return
		}
		if d := checkParserBounds(t, src, text); d >= 0 {
			if byBytes, _ := scanNesting("t.yaml", text); d > byBytes {
				t.Fatalf("prescan(%q): nesting %d by bytes; the syntax tree nests %d deep", src, byBytes, d)
			}
		}
	})
}

// checkParserBounds checks, for a text prescan accepted, the bounds that
// loading relies on: the lexer makes at most two tokens per mark, and a
// text that passes checkTokenNesting and parses nests no deeper than
// that check saw. It returns the syntax tree's depth, or -1 when the
// token check refuses the text or it does not parse.
func checkParserBounds(t *testing.T, src, text []byte) int {
	t.Helper()
	marks := 0
	for _, line := range bytes.Split(text, []byte("\n")) {
		for _, l := range bytes.Split(line, []byte("\r")) {
			for i, c := range l {
				if isMark[c] || (c == ' ' || c == '\t') && bytes.IndexByte(l[:i], '%') >= 0 {
					marks++
				}
			}
		}
	}
	marks += bytes.Count(text, []byte("\n")) + bytes.Count(text, []byte("\r"))
	tokens := lexer.Tokenize(string(text))
	if len(tokens) > 2*marks+2 {
		t.Fatalf("prescan(%q) passes with %d marks; the lexer made %d tokens, more than 2 × marks + 2", src, marks, len(tokens))
	}
	byTokens, err := checkTokenNesting("t.yaml", tokens)
	if err != nil {
		return -1
	}
	file, err := parser.Parse(tokens, 0)
	if err != nil {
		return -1
	}
	d := 0
	for _, doc := range file.Docs {
		d = max(d, astDepth(doc.Body))
	}
	if d > byTokens {
		t.Fatalf("checkTokenNesting(%q) = %d; the syntax tree nests %d deep", src, byTokens, d)
	}
	return d
}

// astDepth returns how deeply collections nest in n: a mapping or list
// is one level more than its deepest key or value.
func astDepth(n ast.Node) int {
	switch v := n.(type) {
	case *ast.MappingNode:
		d := 0
		for _, mv := range v.Values {
			d = max(d, astDepth(mv.Key), astDepth(mv.Value))
		}
		return 1 + d
	case *ast.MappingValueNode:
		return 1 + max(astDepth(v.Key), astDepth(v.Value))
	case *ast.SequenceNode:
		d := 0
		for _, it := range v.Values {
			d = max(d, astDepth(it))
		}
		return 1 + d
	case *ast.AnchorNode:
		return astDepth(v.Value)
	case *ast.TagNode:
		return astDepth(v.Value)
	case *ast.MappingKeyNode:
		return astDepth(v.Value)
	}
	return 0
}
