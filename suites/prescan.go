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
// converter's own depth check could run) and in the keys of a block
// mapping, and about 300 bytes per token, a token being as short as one
// byte. So every suite text (a file or a --set value) passes, before the
// parser sees it, checks of its size, that it is UTF-8 text, of an upper
// bound of its tokens, of its nesting depth and keys per mapping, and
// that it has no tags; each check is one linear pass without allocation.
// The depth, keys and tags are checked a second time on the parser's own
// tokens, before they are parsed: the byte scan follows YAML's rules
// closely but goccy/go-yaml reads some odd texts its own way (FuzzPrescan
// compares both with its syntax trees), and the second check makes any
// difference harmless.

// MaxSuiteBytes is the largest suite file Open and Parse accept: 10 MiB,
// far above any hand-written suite. Long prompt lists belong in a text
// file (prompts: {file: NAME}), which may be larger (MaxPromptFileBytes).
const MaxSuiteBytes = 10 << 20

// maxDepth is the deepest nesting of collections a suite text may have.
// Suites nest about 6 deep.
const maxDepth = 64

// maxKeys is the most keys one block mapping may have. goccy/go-yaml
// parses a block mapping recursively, one level per key, copying the
// keys after each: time quadratic in the keys (8,000 keys of a 70 KB
// file took 1.6 s and 290 MB). Flow mappings ({a: 1, b: 2}) and lists
// have no such cost. Suites have a dozen keys a mapping.
const maxKeys = 256

// maxMarks bounds the YAML structure marks of a suite text: its line
// breaks, the characters that can start or end a token, and the blanks
// after a "%" (words of a directive). The lexer
// makes at most two tokens per mark (FuzzParseSuite checks it), and the
// parser keeps about 600 bytes per token: the costliest accepted texts
// (one token every two bytes) peak at about 0.5 GB. A 10 MiB suite of
// 85-byte quoted prompts has about 460,000 marks and peaks at 230 MB.
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
	marks, directive := 0, false
	for i, c := range src {
		// After a "%", goccy/go-yaml may read the rest of the line as a
		// directive, one token per word: its blanks count as marks.
		switch c {
		case '%':
			directive = true
		case '\n', '\r':
			directive = false
		}
		if isMark[c] || directive && (c == ' ' || c == '\t') {
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
// marks, reported in order: the start of each line outside flow
// collections (startLine), block indicators ("- ", "? ", ": "), and the
// opening, closing and "," of flow collections. A line changes the
// indentation levels only at its first mark, so that a line of text
// alone (a plain scalar goccy/go-yaml may read as the continuation of a
// value above) changes nothing. It over-estimates rather than
// under-estimates; depth counts the collections open at a mark, the root
// mapping being 1, as the converter counts.
type nesting struct {
	levels  []blockLevel // block indentation levels, innermost last
	flow    []int        // per open flow collection: 1 + indicators in its current entry
	inFlow  int          // sum of flow
	line    int          // the line the levels were last entered for
	next    lineStart    // the current line, entered at its first mark
	pending bool         // a value on the current line before it entered
	deepest int          // the largest depth seen
}

// lineStart is a line outside flow collections: its number, the column
// of its first character, whether it begins with "- ", whether with ": "
// (which goccy/go-yaml reads as the value of a key that ends the line
// above: the line continues that one), and whether its first mark opens a
// flow collection.
type lineStart struct {
	line, col  int
	dash, cont bool
	flow       bool
}

// blockLevel is one indentation level of block collections: the lines
// of one indentation in a row, the last of them the current one.
type blockLevel struct {
	indent   int  // columns of indentation
	keyBase  int  // collections enclosing its "key:" lines; -1 before one
	dashBase int  // collections enclosing its "- " lines; -1 before one
	line     int  // collections enclosing the current line's first collection
	marks    int  // block indicators on the current line
	dash     bool // the current line begins with "- "
	open     bool // the current line ends with an indicator: its value may follow below
	keys     int  // lines at this indentation that do not begin with "- "
}

// overflow says which limit a mark exceeds.
type overflow int

const (
	fits        overflow = iota
	tooDeep              // more than maxDepth levels
	tooManyKeys          // more than maxKeys keys in a block mapping
)

// err returns the error for a mark at pos that exceeds the limit o.
func (o overflow) err(pos Pos) error {
	if o == tooManyKeys {
		return &SuiteError{Pos: pos, Msg: fmt.Sprintf("more than %d keys in one YAML mapping (write a long mapping in flow style, {key: value, ...})", maxKeys)}
	}
	return &SuiteError{Pos: pos, Msg: fmt.Sprintf("YAML nested too deeply (more than %d levels)", maxDepth)}
}

// check records the collections open at the current mark and returns
// the limit they exceed.
func (n *nesting) check() overflow {
	d := n.inFlow
	if len(n.levels) > 0 {
		top := n.levels[len(n.levels)-1]
		d += top.line + top.marks
		if top.keys > maxKeys {
			return tooManyKeys
		}
	}
	n.deepest = max(n.deepest, d)
	if d > maxDepth {
		return tooDeep
	}
	return fits
}

// errTag is the error for a tag at pos. Tags would let a file construct
// arbitrary types, and goccy/go-yaml reads a tag ending a line as the tag
// of the lines below, which nests a chain of "a: !t" lines one level a
// line (quadratic to parse); they are refused before parsing.
func errTag(pos Pos) error {
	return &SuiteError{Pos: pos, Msg: "YAML tags (!name) are not supported in suite files"}
}

// startLine records the start of a line; lines inside flow collections
// are continuations and ignored.
func (n *nesting) startLine(line, col int, dash, cont bool) {
	if n.inFlow > 0 {
		return
	}
	if n.pending && len(n.levels) > 0 {
		// The line before held a value and no indicator: the value of
		// the last line that ended with one.
		n.levels[len(n.levels)-1].open = false
	}
	n.next, n.pending = lineStart{line: line, col: col, dash: dash, cont: cont}, false
}

// enter places the current line among the indentation levels, at its
// first mark. A line indented more than the one above is inside it. A
// line at the same indentation is a sibling of the lines of its kind
// ("- " or not) there, or, when the line above ends with an indicator and
// is of the other kind or the line opens a flow collection, inside it:
// "key:" then "- item" is a list in the mapping, goccy/go-yaml reads "-"
// then "key:" as a mapping in the list (so a chain of such pairs nests
// one level a line), and "key:" then "[...]" as the key's value.
func (n *nesting) enter() {
	if n.inFlow > 0 || n.next.line == n.line {
		return
	}
	n.line, n.pending = n.next.line, false // a value before the line's first mark is a key
	if n.next.cont {
		return
	}
	indent, dash := n.next.col-1, n.next.dash
	for len(n.levels) > 0 && n.levels[len(n.levels)-1].indent > indent {
		n.levels = n.levels[:len(n.levels)-1]
	}
	k := len(n.levels)
	if k == 0 || n.levels[k-1].indent < indent {
		base := 0
		if k > 0 {
			base = n.levels[k-1].line + n.levels[k-1].marks
		}
		n.levels = append(n.levels, blockLevel{indent: indent, keyBase: -1, dashBase: -1})
		k++
		n.levels[k-1].line = base
	}
	top := &n.levels[k-1]
	base := top.line
	switch {
	case top.marks > 0 && top.open && (dash != top.dash || n.next.flow):
		base = top.line + top.marks
	case dash && top.dashBase >= 0:
		base = top.dashBase
	case !dash && top.keyBase >= 0:
		base = top.keyBase
	}
	if dash {
		top.dashBase = base
	} else {
		top.keyBase = base
		top.keys++
	}
	top.line, top.marks, top.dash, top.open = base, 0, dash, false
}

// value records a value: a scalar, alias, block scalar or flow
// collection.
func (n *nesting) value() {
	switch {
	case n.inFlow > 0:
	case n.next.line != n.line:
		n.pending = true // a key, or a value of the line above: known at the next line
	case len(n.levels) > 0:
		n.levels[len(n.levels)-1].open = false
	}
}

// indicator records a block indicator ("- ", "? " or ": ") and returns
// the limit it exceeds.
func (n *nesting) indicator() overflow {
	n.enter()
	switch {
	case len(n.flow) > 0:
		n.flow[len(n.flow)-1]++
		n.inFlow++
	case len(n.levels) > 0:
		n.levels[len(n.levels)-1].marks++
		n.levels[len(n.levels)-1].open = true
	default:
		n.levels = append(n.levels, blockLevel{keyBase: -1, dashBase: -1, marks: 1, open: true})
	}
	return n.check()
}

// open records "[" or "{" and returns the limit it exceeds.
func (n *nesting) open() overflow {
	if n.inFlow == 0 && n.next.line != n.line {
		n.next.flow = true // the line's first mark
	}
	n.enter()
	n.value()
	n.flow = append(n.flow, 1)
	n.inFlow++
	return n.check()
}

// close records "]" or "}" on line. The rest of a line where the
// outermost flow collection closes belongs to the line where it opened.
func (n *nesting) close(line int) {
	if k := len(n.flow); k > 0 {
		n.inFlow -= n.flow[k-1]
		n.flow = n.flow[:k-1]
		if n.inFlow == 0 {
			n.line, n.next.line = line, line
		}
	}
}

// entry records "," in a flow collection.
func (n *nesting) entry() {
	if k := len(n.flow); k > 0 {
		n.inFlow -= n.flow[k-1] - 1
		n.flow[k-1] = 1
	}
}

// scanNesting checks the nesting depth of src from its bytes, and that it
// has no tags, and returns the deepest nesting it saw. It follows YAML's
// lexical rules: quoted scalars, comments and the content of block
// scalars (| and >) hold no structure, nor do "[", "{", "," and "!"
// inside a plain scalar outside flow collections.
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
			case lineIndent == 0 && (bytes.HasPrefix(src[i:], []byte("---")) && isBlank(i+3) ||
				bytes.HasPrefix(src[i:], []byte("...")) && (i+3 == len(src) || src[i+3] != '.')):
				i += 3 // a document marker, as goccy/go-yaml reads one
				continue
			}
			n.startLine(line, lineIndent+1, src[i] == '-' && isBlank(i+1), src[i] == ':' && isBlank(i+1))
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
			if o := n.open(); o != fits {
				return n.deepest, o.err(pos(i))
			}
			plain = false
		case n.inFlow > 0 && (c == ']' || c == '}'), !plain && c == ']':
			// goccy/go-yaml ends a flow list at "]" outside one, and
			// reads a "}" outside a flow mapping as text.
			n.close(line)
			plain = false
		case n.inFlow > 0 && c == ',':
			n.entry()
			plain = false
		case (c == '-' || c == '?') && !plain && isBlank(i+1),
			c == ':' && (isBlank(i+1) || n.inFlow > 0):
			// In a flow collection every ':' may separate a key from its
			// value ("{a:b}"); counting one too many is harmless.
			if o := n.indicator(); o != fits {
				return n.deepest, o.err(pos(i))
			}
			plain = false
		case !plain && (c == '"' || c == '\''):
			// A quoted scalar, possibly over several lines.
			n.value()
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
			// or indented at least as much as its first line, which is
			// indented more than the header's line.
			n.value()
			i = toEOL(i)
			content := -1
			for i < len(src) {
				next := newline(i)
				ind := indentOf(next)
				if !isBreak(next + ind) {
					if content < 0 {
						content = ind
					}
					if ind <= lineIndent || ind < content {
						i = next
						break
					}
				}
				i = toEOL(next + ind)
			}
			atLineStart = true
			continue
		case !plain && c == '!':
			return n.deepest, errTag(pos(i))
		case !plain && (c == '&' || c == '*'):
			// An anchor or alias: its name runs to a blank (or a flow
			// indicator inside a flow collection). An alias is a value;
			// the value of an anchor may follow on the lines below.
			if c == '*' {
				n.value()
			}
			for i++; !isBlank(i) && !(n.inFlow > 0 && strings.IndexByte(",[]{}", src[i]) >= 0); i++ {
			}
			plain = false
			continue
		default:
			if !plain {
				n.value()
			}
			plain = true
		}
		i++
	}
	return n.deepest, nil
}

// checkTokenNesting checks the nesting depth of goccy/go-yaml's tokens
// before they are parsed, by the rules scanNesting follows on bytes, and
// that there is no tag, and returns the deepest nesting it saw.
func checkTokenNesting(file string, tokens token.Tokens) (deepest int, err error) {
	var n nesting
	last := 0 // line of the previous token
	for i, tk := range tokens {
		if tk.Position == nil || tk.Type == token.CommentType {
			continue
		}
		if i > 0 && (tokens[i-1].Type == token.LiteralType || tokens[i-1].Type == token.FoldedType) {
			continue // the content of a block scalar
		}
		pos := Pos{File: file, Line: tk.Position.Line, Col: tk.Position.Column}
		if pos.Line != last {
			n.startLine(pos.Line, pos.Col, tk.Type == token.SequenceEntryType, tk.Type == token.MappingValueType)
			last = pos.Line
		}
		o := fits
		switch tk.Type {
		case token.TagType:
			return n.deepest, errTag(pos)
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			o = n.indicator()
		case token.SequenceStartType, token.MappingStartType:
			o = n.open()
		case token.SequenceEndType, token.MappingEndType:
			n.close(pos.Line)
		case token.CollectEntryType:
			n.entry()
		case token.AnchorType, token.DocumentHeaderType, token.DocumentEndType, token.DirectiveType:
		default:
			n.value() // a scalar, alias or block scalar
		}
		if o != fits {
			return n.deepest, o.err(pos)
		}
	}
	return n.deepest, nil
}
