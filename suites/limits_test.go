package suites

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// staircase returns n block mappings nested by indentation, two spaces a
// level: "a:\n  a:\n    a:\n...".
func staircase(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat("  ", i) + "a:\n")
	}
	return b.String()
}

// limitTests are texts that pass the size, text and nesting checks or
// fail them at a known place. Before these checks, 80 KB of "[" took 10 s
// and 2.5 GB before the converter's own depth check ran.
var limitTests = []struct {
	name  string
	src   string
	pos   string // line:col of the error; "" when the text must pass
	field string // Field of the error
	msg   string // substring of the error
}{
	{
		name: "80 KB of [",
		// The root mapping is depth 1, "probes:" opens its value, and the
		// i-th "[" (from 0) is at depth i+2: the 64th (column 9+63) is
		// the first too deep.
		src: "name: s\nmodels: {a: {model: m}}\nprobes: " + strings.Repeat("[", 80_000) + "\n",
		pos: "3:72", msg: "YAML nested too deeply (more than 64 levels)",
	},
	{
		name: "80 KB of balanced [ and ]",
		src:  "name: s\nprobes: " + strings.Repeat("[", 40_000) + strings.Repeat("]", 40_000) + "\n",
		pos:  "2:72", msg: "YAML nested too deeply",
	},
	{
		name: "flow mappings",
		// "x: " opens a level, each "{a: " two: the mapping and its value.
		// The 32nd "{" is at depth 1 + 31·2 + 1 = 64; its ":" (column
		// 4 + 31·4 + 2) opens the 65th.
		src: "x: " + strings.Repeat("{a: ", 20_000) + "b" + strings.Repeat("}", 20_000) + "\n",
		pos: "1:130", msg: "YAML nested too deeply",
	},
	{
		name: "single-pair mappings in flow lists",
		// "[a: [a: ...": each ":" inside a flow list makes a mapping.
		src: "x: " + strings.Repeat("[a: ", 20_000) + "\n",
		pos: "1:130", msg: "YAML nested too deeply",
	},
	{
		name: "compact block lists",
		// "- - - x": one list per "- " on one line; the 65th is too deep.
		src: strings.Repeat("- ", 40_000) + "x\n",
		pos: "1:129", msg: "YAML nested too deeply",
	},
	{
		name: "block staircase",
		// One mapping per line: the ":" of line 65 (column 128 + 2)
		// opens the 65th.
		src: staircase(2_000),
		pos: "65:130", msg: "YAML nested too deeply",
	},
	{
		name: "lists of mappings by indentation",
		// "- a:" opens two levels a line, the list and the mapping: line
		// L's "-" opens level 2L-1, so the "-" of line 33 (column
		// 4·32 + 1) the 65th.
		src: func() string {
			var b strings.Builder
			for i := range 1_000 {
				b.WriteString(strings.Repeat("  ", 2*i) + "- a:\n")
			}
			return b.String()
		}(),
		pos: "33:129", msg: "YAML nested too deeply",
	},
	{
		name: "list under a key at the same indentation",
		// "a:" then "- " at the same column is a list inside the mapping:
		// two levels per pair of lines, so "- " on line 64 opens the 64th
		// level and the ":" on line 65 (column 64 + 2) the 65th.
		src: func() string {
			var b strings.Builder
			for i := range 500 {
				ind := strings.Repeat("  ", i)
				b.WriteString(ind + "a:\n" + ind + "- \n")
			}
			return b.String()
		}(),
		pos: "65:66", msg: "YAML nested too deeply",
	},
	{
		name: "empty list items and keys in turn",
		// goccy/go-yaml reads "-" ending a line, then "a:" at the same
		// indentation, as a mapping in the list, and "a:" then "-" as a
		// list in the mapping: one level a line (20,000 pairs nested
		// 40,000 deep). Line L opens level L; the "-" of line 65 is too
		// deep.
		src: strings.Repeat("-\na:\n", 20_000),
		pos: "65:1", msg: "YAML nested too deeply",
	},
	{
		name: "sibling keys and lists do not nest",
		// The usual layout: lists at the indentation of their keys, and
		// empty values. 240 such keys over 400 lines nest 2 deep.
		src: func() string {
			var b strings.Builder
			for i := range 80 {
				fmt.Fprintf(&b, "a%d:\n- x\n- y\nb%d:\nc%d: d\n", i, i, i)
			}
			return b.String()
		}(),
		// Loading then fails on the first key, which is no suite field.
		pos: "1:1", field: "a0", msg: "unknown key",
	},
	{
		name: "257 keys in a mapping",
		// goccy/go-yaml parses a block mapping in time quadratic in its
		// keys (8,000 keys took 1.6 s and 290 MB). The ":" of the 257th
		// key ("k256: v", line 257) is refused.
		src: func() string {
			var b strings.Builder
			for i := range 20_000 {
				fmt.Fprintf(&b, "k%d: v\n", i)
			}
			return b.String()
		}(),
		pos: "257:5", msg: "more than 256 keys in one YAML mapping",
	},
	{
		name: "256 keys in a mapping pass",
		// The last key that fits; loading then fails on the first key,
		// which is no suite field.
		src: func() string {
			var b strings.Builder
			for i := range 256 {
				fmt.Fprintf(&b, "k%d: v\n", i)
			}
			return b.String()
		}(),
		pos: "1:1", field: "k0", msg: "unknown key",
	},
	{
		name: "many small mappings pass",
		// Keys count per mapping: 2,000 mappings of 4 keys in a list.
		src: "description:\n" + strings.Repeat("  - a: 1\n    b: 2\n    c: 3\n    d: 4\n", 2_000),
		pos: "2:3", field: "description", msg: "want a string, got list",
	},
	{
		name: "directive words",
		// goccy/go-yaml makes a token of every word after a "%": blanks
		// there count as marks. The "%" is mark 1 and the k-th space mark
		// k+1, so the 500,000th space (column 1 + 2·499,999 + 1) is the
		// 500,001st.
		src: "%" + strings.Repeat(" a", 600_000),
		pos: "1:1000000", msg: "more than 500000 YAML marks",
	},
	{
		name: "tag chain",
		// goccy/go-yaml reads "a: !t" ending a line as the tag of the
		// next line's mapping: 16,000 such lines nested 16,000 deep and
		// took 2 s. Tags are refused before parsing.
		src: strings.Repeat("a: !t\n", 16_000),
		pos: "1:4", msg: "YAML tags (!name) are not supported",
	},
	{
		name: "64 levels pass",
		// Depth 64 exactly: 63 "[" after "description:". Loading then
		// fails on the type, not the depth.
		src: "name: s\ndescription: " + strings.Repeat("[", 63) + strings.Repeat("]", 63) + "\n",
		pos: "2:14", field: "description", msg: "want a string, got list",
	},

	// Brackets, quotes and colons inside scalars and comments are text:
	// a suite full of them is not nested at all.
	{
		name: "brackets in text",
		src: "name: s\nmodels: {a: {model: m}}\n" +
			"# [[[[ a comment " + strings.Repeat("[", 100) + "\n" +
			"description: a plain [[[ scalar " + strings.Repeat("{", 100) + "\n" +
			"probes:\n" +
			"  - id: p\n" +
			"    samples: 1\n" +
			"    score: {mentions: owl}\n" +
			"    prompts:\n" +
			strings.Repeat("      - Reply with [ or { and nothing else, [\n", 100) +
			strings.Repeat("      - \"Quoted [[{{ with \\\" and : and #\"\n", 100) +
			strings.Repeat("      - 'Single [[ quoted '' ['\n", 100) +
			"      - |\n" + strings.Repeat("        A literal [[[ {{{ block\n\n", 100) +
			"      - >-\n" + strings.Repeat("        A folded [[[ block\n", 100) +
			"      - \"A quoted\n        [[[[ line [[[[ break\"\n",
	},
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestSuiteLimits(t *testing.T) {
	for _, tt := range limitTests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			// Memory linear in the text with a small factor. A text the
			// checks refuse is refused before the parser makes its tokens:
			// a few bytes per byte. One they accept costs the parser's
			// tokens and tree, and their garbage: about 1 KB per mark
			// (maxMarks). Before the checks, the first row allocated
			// 2.5 GB (31,000 bytes a byte).
			alloc := allocated(func() { _, err = parseWithin(t, []byte(tt.src), nil) })
			limit := uint64(8*len(tt.src) + 1<<20)
			if tt.pos == "" || tt.field != "" {
				marks := 0
				for _, c := range []byte(tt.src) {
					if isMark[c] {
						marks++
					}
				}
				limit = uint64(2048*marks + 1<<20)
			}
			if alloc > limit {
				t.Errorf("Parse(%s, %d bytes) allocated %d bytes; want at most %d", tt.name, len(tt.src), alloc, limit)
			}
			if tt.pos == "" {
				if err != nil {
					t.Fatalf("Parse(%s) error = %v; want nil", tt.name, err)
				}
				return
			}
			checkSuiteError(t, "Parse("+tt.name+")", err, errorTest{pos: tt.pos, field: tt.field, msg: tt.msg})
		})
	}
}

func TestSuiteSizeLimit(t *testing.T) {
	// A file one byte over MaxSuiteBytes is refused, naming the limit; a
	// device that never ends is read only that far.
	big := bytes.Repeat([]byte("#\n"), MaxSuiteBytes/2+1)
	_, err := Parse("big.yaml", big, "", nil)
	want := "big.yaml: the file is larger than 10 MiB (10485760 bytes), the limit for a suite file"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Parse(%d bytes) error = %v; want %q", len(big), err, want)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	var alloc uint64
	alloc = allocated(func() { _, err = Open("/dev/zero", nil) })
	want = "/dev/zero: the file is larger than 10 MiB"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open(/dev/zero) error = %v; want %q", err, want)
	}
	// Read in growing buffers, up to the limit: a few times the limit
	// (more under -race), never the gigabytes of reading on.
	if alloc > 8*MaxSuiteBytes {
		t.Errorf("Open(/dev/zero) allocated %d bytes; want at most %d", alloc, 8*MaxSuiteBytes)
	}
}

func TestSuiteMarksLimit(t *testing.T) {
	// Tokens cost about 300 bytes each, and "[a]," is three of them in
	// four bytes: more than maxMarks marks are refused before parsing,
	// at the first mark past the limit.
	src := "x: [" + strings.Repeat("[a],", 200_000) + "]\n"
	_, err := Parse("t.yaml", []byte(src), "", nil)
	// Marks: ":" and "[" on the way, then three per "[a],"; the
	// 500,001st is the "[" of element 166,667 (from 1), at column
	// 5 + 166,666·4.
	checkSuiteError(t, "Parse(200,000 × [a],)", err, errorTest{pos: fmt.Sprintf("1:%d", 5+166_666*4), msg: "more than 500000 YAML marks"})
}

func TestByteOrderMark(t *testing.T) {
	// Editors on Windows save UTF-8 with a byte order mark: it is not
	// part of the first key, and columns on line 1 stay as shown.
	src := "\ufeff" + issueSuite
	s, err := Parse("t.yaml", []byte(src), "", nil)
	if err != nil {
		t.Fatalf("Parse(BOM + suite) error = %v; want nil", err)
	}
	if s.Name != mustParse(t, issueSuite).Name {
		t.Errorf("Parse(BOM + suite).Name = %q; want %q", s.Name, mustParse(t, issueSuite).Name)
	}
	_, err = Parse("t.yaml", []byte("\ufeffname: a b\n"), "", nil)
	checkSuiteError(t, "Parse(BOM + bad name)", err, errorTest{pos: "1:7", field: "name", msg: `name "a b": use letters`})
}

func TestNotText(t *testing.T) {
	long := strings.Repeat("x", 6000)
	tests := []struct {
		name string
		src  string
		pos  string
		msg  string
	}{
		// A NUL byte: not YAML, and almost surely not meant as a suite.
		{name: "NUL", src: "name: s\nmo\x00dels: " + long, pos: "2:3", msg: "not a text file: a NUL byte"},
		// Invalid UTF-8 (Latin-1 é), located at the byte.
		{name: "Latin-1", src: "name: s\ndescription: caf\xe9 " + long, pos: "2:17", msg: "not a text file: invalid UTF-8 (byte 0xe9)"},
		// A binary file: the first bad byte, whatever follows.
		{name: "binary", src: "\x7fELF\x02\x01\x01\x00\x00" + long, pos: "1:8", msg: "not a text file: a NUL byte"},
		// UTF-16, with either byte order mark.
		{name: "UTF-16LE", src: "\xff\xfen\x00a\x00", pos: "1:1", msg: "not a text file: UTF-16 text (save it as UTF-8)"},
		{name: "UTF-16BE", src: "\xfe\xff\x00n\x00a", pos: "1:1", msg: "not a text file: UTF-16 text"},
	}
	for _, tt := range tests {
		_, err := Parse("t.yaml", []byte(tt.src), "", nil)
		checkSuiteError(t, "Parse("+tt.name+")", err, errorTest{pos: tt.pos, msg: tt.msg})
		// Before, goccy/go-yaml's message quoted the file: 6 KB of
		// escapes for a binary file.
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("Parse(%s) error is %d bytes long; want a short message", tt.name, len(err.Error()))
		}
	}
}

func TestLongValueInError(t *testing.T) {
	// A wrong value is quoted in the error, cut to 60 characters.
	src := "name: s\nseed: " + strings.Repeat("é", 3000) + "\n"
	_, err := Parse("t.yaml", []byte(src), "", nil)
	want := `t.yaml:2:7: seed: want an integer, got "` + strings.Repeat("é", 60) + `"… (6000 bytes)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(seed: 3000 × é) error = %v; want %q", err, want)
	}
}

func TestManyPlainPrompts(t *testing.T) {
	// 100,010 prompts written out are fine: only values that aliases
	// expand to count towards the alias-bomb limit of 100,000.
	var b strings.Builder
	b.WriteString("name: s\nmodels: {a: {model: m}}\nprobes:\n  - id: p\n    samples: 1\n    score: {mentions: owl}\n    prompts:\n")
	for i := range 100_010 {
		fmt.Fprintf(&b, "      - prompt %d\n", i)
	}
	s, err := Parse("t.yaml", []byte(b.String()), "", nil)
	if err != nil {
		t.Fatalf("Parse(100,010 prompts) error = %v; want nil", err)
	}
	if got := len(s.Probes[0].Prompts.Texts); got != 100_010 {
		t.Errorf("Parse(100,010 prompts): %d prompts; want 100010", got)
	}
}

func TestOverrideLimits(t *testing.T) {
	// A --set value passes the same checks as a file. The value is a
	// text of its own: its 65th "[" is too deep.
	set := "description=" + strings.Repeat("[", 100)
	_, err := Parse("t.yaml", []byte(issueSuite), "", []string{set})
	checkSuiteError(t, "Parse(issueSuite, --set "+set[:20]+"…)", err, errorTest{file: "--set " + set, pos: "1:65", msg: "YAML nested too deeply"})
}

func TestBuiltinsAndTestdataPassPrescan(t *testing.T) {
	// The pre-scan never refuses a real suite: every built-in, and every
	// YAML file under testdata directories of the module.
	var files []string
	for _, name := range BuiltinNames() {
		files = append(files, "builtin/"+name+".yaml")
	}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prescan(f, src); err != nil {
			t.Errorf("prescan(%s) error = %v; want nil", f, err)
		}
	}
	t.Logf("%d YAML files pass", len(files))
}
