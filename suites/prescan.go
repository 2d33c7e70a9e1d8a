package suites

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/token"
)

// Why a pre-scan: goccy/go-yaml's parser costs time and memory quadratic
// in nesting depth (80 KB of "[" took 10 s and 2.5 GB before the
// converter's depth check could run) and about 300 bytes per token, and a
// token can be one byte of input. So every suite text (a file or a --set
// value) passes, before the parser sees it, a check of its size, that it
// is text, an upper bound of its token count, and its nesting depth, each
// in one linear pass without allocation. The nesting depth is checked a
// second time on the parser's own tokens, before they are parsed: the
// byte scan follows YAML's rules closely but not exactly (a multi-line
// plain scalar, say), and that second check makes any difference
// harmless.

// MaxSuiteBytes is the largest suite file Open and Parse accept: 10 MiB,
// far above any hand-written suite. Long prompt lists belong in a text
// file (prompts: {file: NAME}), which may be larger (MaxPromptFileBytes).
const MaxSuiteBytes = 10 << 20

// maxDepth is the deepest nesting of collections a suite text may have.
// Suites nest about 6 deep.
const maxDepth = 64

// maxMarks bounds the YAML structure marks of a suite text: its line
// breaks and the characters that can start or end a token. The parser
// makes at most two tokens per mark (FuzzTokenBound checks it), so
// parsing an accepted text costs at most about 2 × 500,000 × 300 bytes.
// A 10 MiB suite of 85-byte quoted prompts has about 460,000 marks.
const maxMarks = 500_000

// isMark flags the bytes counted by maxMarks.
var isMark = func() (t [256]bool) {
	for _, c := range []byte("[]{},:?-#&*!|>'\"%@`<\n\r") {
		t[c] = true
	}
	return t
}()

// utf8BOM is the byte order mark some editors put at the start of UTF-8
// files.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// prescan checks a suite text before parsing and returns it without a
// UTF-8 byte order mark. file names the text in errors. Errors are
// *SuiteErrors at the offending line and column, or naming the limit.
func prescan(file string, src []byte) ([]byte, error) {
	if len(src) > MaxSuiteBytes {
		return nil, &SuiteError{Pos: Pos{File: file}, Msg: fmt.Sprintf(
			"the file is larger than %d MiB (%d bytes), the limit for a suite file; put long prompt lists in a text file: prompts: {file: NAME}",
			MaxSuiteBytes>>20, MaxSuiteBytes)}
	}
	src, err := checkText(file, src)
	if err != nil {
		return nil, err
	}
	marks := 0
	for i, c := range src {
		if isMark[c] {
			if marks++; marks > maxMarks {
				return nil, &SuiteError{Pos: posAt(file, src, i), Msg: fmt.Sprintf(
					"the file has more than %d YAML marks (line breaks, - : [ ] { } , and the like), the limit that bounds parsing memory; put long prompt lists in a text file: prompts: {file: NAME}",
					maxMarks)}
			}
		}
	}
	if _, err := scanNesting(file, src); err != nil {
		return nil, err
	}
	return src, nil
}

// checkText strips a UTF-8 byte order mark and refuses what is not UTF-8
// text: NUL bytes, invalid UTF-8, UTF-16.
func checkText(file string, src []byte) ([]byte, error) {
	src = bytes.TrimPrefix(src, utf8BOM)
	if bytes.HasPrefix(src, []byte{0xFF, 0xFE}) || bytes.HasPrefix(src, []byte{0xFE, 0xFF}) {
		return nil, &SuiteError{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "not a text file: UTF-16 text (save it as UTF-8)"}
	}
	if i := badTextByte(src); i >= 0 {
		what := "a NUL byte"
		if src[i] != 0 {
			what = fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", src[i])
		}
		return nil, &SuiteError{Pos: posAt(file, src, i), Msg: "not a text file: " + what}
	}
	return src, nil
}

// badTextByte returns the offset of the first NUL byte or invalid UTF-8
// sequence in b, or -1.
func badTextByte(b []byte) int {
	nul := bytes.IndexByte(b, 0)
	if utf8.Valid(b) {
		return nul
	}
	end := len(b)
	if nul >= 0 {
		end = nul
	}
	for i := 0; i < end; {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return nul
}

// posAt returns the position of byte offset off of src. Lines break at
// LF, CRLF and a lone CR, as in YAML; columns count characters, as
// goccy/go-yaml's do.
func posAt(file string, src []byte, off int) Pos {
	line, start := 1, 0
	for i := 0; i < off; i++ {
		switch src[i] {
		case '\n':
			line, start = line+1, i+1
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				continue
			}
			line, start = line+1, i+1
		}
	}
	return Pos{File: file, Line: line, Col: 1 + utf8.RuneCount(src[start:off])}
}

// nesting follows the nesting depth of a YAML text from its structure
// marks, reported in order: the first mark of each line outside flow
// collections (content), block indicators ("- ", "? ", ": "), and the
// opening, closing and "," of flow collections. It over-estimates rather
// than under-estimates; depth counts the collections open at a mark, the
// root mapping being 1, as the converter counts.
type nesting struct {
	levels  []blockLevel // block indentation levels, innermost last
	flow    []int        // per open flow collection: 1 + indicators in its current entry
	inFlow  int          // sum of flow
	line    int          // line of the last content mark
	deepest int          // the largest depth seen
}

// blockLevel is one indentation level of block collections.
type blockLevel struct {
	indent int  // columns of indentation
	base   int  // collections enclosing the level's first collection
	dash   bool // its first line began with "- "
	line   int  // collections enclosing the current line's first collection
	marks  int  // block indicators on the current line
}

// deeper records the collections open at the current mark and reports
// whether they are too many.
func (n *nesting) deeper() bool {
	d := n.inFlow
	if len(n.levels) > 0 {
		top := n.levels[len(n.levels)-1]
		d += top.line + top.marks
	}
	n.deepest = max(n.deepest, d)
	return d > maxDepth
}

// tooDeep returns the error for a mark at pos that nests too deeply.
func tooDeep(pos Pos) error {
	return &SuiteError{Pos: pos, Msg: fmt.Sprintf("YAML nested too deeply (more than %d levels)", maxDepth)}
}

// content starts a line outside flow collections whose first mark is at
// column col; dash says it begins with "- ".
func (n *nesting) content(line, col int, dash bool) {
	if n.inFlow > 0 || line == n.line {
		return
	}
	n.line = line
	indent := col - 1
	for len(n.levels) > 0 && n.levels[len(n.levels)-1].indent > indent {
		n.levels = n.levels[:len(n.levels)-1]
	}
	if k := len(n.levels); k > 0 && n.levels[k-1].indent == indent {
		top := &n.levels[k-1]
		top.line, top.marks = top.base, 0
		if dash && !top.dash {
			top.line++ // "key:" then "- item" at the same indentation: a list in the mapping
		}
		return
	}
	base := 0
	if k := len(n.levels); k > 0 {
		base = n.levels[k-1].line + n.levels[k-1].marks
	}
	n.levels = append(n.levels, blockLevel{indent: indent, base: base, dash: dash, line: base})
}

// indicator records a block indicator ("- ", "? " or ": ") and reports
// whether it nests too deeply.
func (n *nesting) indicator() bool {
	switch {
	case len(n.flow) > 0:
		n.flow[len(n.flow)-1]++
		n.inFlow++
	case len(n.levels) > 0:
		n.levels[len(n.levels)-1].marks++
	default:
		n.levels = append(n.levels, blockLevel{marks: 1})
	}
	return n.deeper()
}

// open records "[" or "{" and reports whether it nests too deeply.
func (n *nesting) open() bool {
	n.flow = append(n.flow, 1)
	n.inFlow++
	return n.deeper()
}

// close records "]" or "}".
func (n *nesting) close() {
	if k := len(n.flow); k > 0 {
		n.inFlow -= n.flow[k-1]
		n.flow = n.flow[:k-1]
	}
}

// entry records "," in a flow collection.
func (n *nesting) entry() {
	if k := len(n.flow); k > 0 {
		n.inFlow -= n.flow[k-1] - 1
		n.flow[k-1] = 1
	}
}

// scanNesting checks the nesting depth of src from its bytes and returns
// the deepest nesting it saw, following
// YAML's lexical rules: quoted scalars, comments and the content of block
// scalars (| and >) hold no structure, nor do "[", "{" and "," inside a
// plain scalar outside flow collections.
func scanNesting(file string, src []byte) (deepest int, err error) {
	var n nesting
	line, lineStart := 1, 0
	pos := func(i int) Pos { return Pos{File: file, Line: line, Col: 1 + utf8.RuneCount(src[lineStart:i])} }
	// newline consumes the line break at i and returns the next offset.
	newline := func(i int) int {
		if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			i++
		}
		line, lineStart = line+1, i+1
		return i + 1
	}
	isBreak := func(i int) bool { return i >= len(src) || src[i] == '\n' || src[i] == '\r' }
	isBlank := func(i int) bool { return isBreak(i) || src[i] == ' ' || src[i] == '\t' }
	toEOL := func(i int) int {
		for !isBreak(i) {
			i++
		}
		return i
	}
	indentOf := func(i int) int { // spaces and tabs from i
		j := i
		for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		return j - i
	}

	i := 0
	lineIndent := 0
	atLineStart := true
	plain := false // inside a plain scalar
	for i < len(src) {
		if atLineStart {
			lineIndent = indentOf(i)
			i += lineIndent
			if isBreak(i) {
				if i < len(src) {
					i = newline(i)
				}
				continue
			}
			atLineStart, plain = false, false
			switch {
			case src[i] == '#':
				i = toEOL(i)
				continue
			case n.inFlow == 0 && lineIndent == 0 && src[i] == '%':
				i = toEOL(i) // a directive
				continue
			case n.inFlow == 0 && lineIndent == 0 && (bytes.HasPrefix(src[i:], []byte("---")) || bytes.HasPrefix(src[i:], []byte("..."))) && isBlank(i+3):
				i += 3 // a document marker
				continue
			}
			n.content(line, lineIndent+1, src[i] == '-' && isBlank(i+1))
		}
		c := src[i]
		switch {
		case c == '\n' || c == '\r':
			i = newline(i)
			atLineStart, plain = true, false
			continue
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '#' && (!plain || src[i-1] == ' ' || src[i-1] == '\t'):
			i = toEOL(i)
			continue
		case n.inFlow > 0 && (c == '[' || c == '{'), !plain && (c == '[' || c == '{'):
			if n.open() {
				return n.deepest, tooDeep(pos(i))
			}
			plain = false
		case n.inFlow > 0 && (c == ']' || c == '}'), !plain && c == ']':
			// goccy/go-yaml ends a flow list at "]" outside one, and
			// reads a "}" outside a flow mapping as text.
			n.close()
			plain = false
		case n.inFlow > 0 && c == ',':
			n.entry()
			plain = false
		case (c == '-' || c == '?') && !plain && isBlank(i+1),
			c == ':' && (isBlank(i+1) || n.inFlow > 0):
			// In a flow collection every ':' may separate a key from its
			// value ("{a:b}"); counting one too many is harmless.
			if n.indicator() {
				return n.deepest, tooDeep(pos(i))
			}
			plain = false
		case !plain && (c == '"' || c == '\''):
			// A quoted scalar, possibly over several lines.
			for i++; i < len(src); {
				switch {
				case src[i] == c && c == '\'' && i+1 < len(src) && src[i+1] == '\'':
					i += 2
					continue
				case src[i] == c:
				case src[i] == '\\' && c == '"' && i+1 < len(src) && src[i+1] != '\n' && src[i+1] != '\r':
					i += 2
					continue
				case src[i] == '\n' || src[i] == '\r':
					i = newline(i)
					continue
				default:
					i++
					continue
				}
				break
			}
			plain = false
		case !plain && n.inFlow == 0 && (c == '|' || c == '>'):
			// A block scalar: its header, then every line that is blank
			// or indented more than the header's line.
			i = toEOL(i)
			for i < len(src) {
				next := newline(i)
				ind := indentOf(next)
				if !isBreak(next+ind) && ind <= lineIndent {
					i = next
					break
				}
				i = toEOL(next + ind)
			}
			atLineStart = true
			continue
		case !plain && (c == '&' || c == '*' || c == '!'):
			// An anchor, alias or tag: its name runs to a blank (or a
			// flow indicator inside a flow collection).
			for i++; !isBlank(i) && !(n.inFlow > 0 && strings.IndexByte(",[]{}", src[i]) >= 0); i++ {
			}
			plain = false
			continue
		default:
			plain = true
		}
		i++
	}
	return n.deepest, nil
}

// checkTokenNesting checks the nesting depth of goccy/go-yaml's tokens
// before they are parsed, by the rules scanNesting follows on bytes, and
// returns the deepest nesting it saw.
func checkTokenNesting(file string, tokens token.Tokens) (deepest int, err error) {
	var n nesting
	for i, tk := range tokens {
		if tk.Position == nil || tk.Type == token.CommentType {
			continue
		}
		if i > 0 && (tokens[i-1].Type == token.LiteralType || tokens[i-1].Type == token.FoldedType) {
			continue // the content of a block scalar
		}
		pos := Pos{File: file, Line: tk.Position.Line, Col: tk.Position.Column}
		n.content(pos.Line, pos.Col, tk.Type == token.SequenceEntryType)
		deep := false
		switch tk.Type {
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			deep = n.indicator()
		case token.SequenceStartType, token.MappingStartType:
			deep = n.open()
		case token.SequenceEndType, token.MappingEndType:
			n.close()
		case token.CollectEntryType:
			n.entry()
		}
		if deep {
			return n.deepest, tooDeep(pos)
		}
	}
	return n.deepest, nil
}
