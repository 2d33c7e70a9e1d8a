package suites

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Why a tree of our own: suite errors must name file, line and column for
// every field, including fields changed by --set and fields checked after
// decoding. goccy/go-yaml parses; this small tree keeps one position per
// value and lets overrides carry their own origin ("--set a.b=c").

// kind is the shape of a node.
type kind int

const (
	scalarNode kind = iota
	mapNode
	seqNode
	nullNode
)

func (k kind) String() string {
	switch k {
	case mapNode:
		return "mapping"
	case seqNode:
		return "list"
	case nullNode:
		return "null"
	default:
		return "scalar"
	}
}

// node is one YAML value with its position.
type node struct {
	kind   kind
	value  string // scalar text, already unquoted
	quoted bool   // scalar was quoted: always a string
	keys   []string
	keyPos []Pos   // position of each key, parallel to keys
	items  []*node // map values (parallel to keys) or list items
	pos    Pos
}

// get returns the value stored under key in a mapping node, or nil.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.items[i]
		}
	}
	return nil
}

// set stores v under key, replacing an existing value.
func (n *node) set(key string, v *node) {
	for i, k := range n.keys {
		if k == key {
			n.items[i] = v
			return
		}
	}
	n.keys = append(n.keys, key)
	n.keyPos = append(n.keyPos, v.pos)
	n.items = append(n.items, v)
}

// describe names the node's type for error messages. A long scalar is
// cut to its first 60 characters, so that an error stays one line.
func (n *node) describe() string {
	switch n.kind {
	case scalarNode:
		v, more := n.value, ""
		if utf8.RuneCountInString(v) > 80 {
			cut := 0
			for range 60 {
				_, size := utf8.DecodeRuneInString(v[cut:])
				cut += size
			}
			v, more = v[:cut], fmt.Sprintf("… (%d bytes)", len(n.value))
		}
		if n.quoted {
			return fmt.Sprintf("string %q%s", v, more)
		}
		return fmt.Sprintf("%q%s", v, more)
	default:
		return n.kind.String()
	}
}

// parseYAML parses src into a node tree. Positions name file. src passes
// prescan first, and the parser's tokens checkTokenNesting (see
// prescan.go for why).
func parseYAML(file string, src []byte) (*node, error) {
	src, err := prescan(file, src)
	if err != nil {
		return nil, err
	}
	tokens := lexer.Tokenize(string(src))
	if _, err := checkTokenNesting(file, tokens); err != nil {
		return nil, err
	}
	f, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, yamlError(file, err)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if _, directive := d.Body.(*ast.DirectiveNode); d.Body != nil && !directive {
			docs = append(docs, d)
		}
	}
	switch len(docs) {
	case 0:
		return &node{kind: nullNode, pos: Pos{File: file, Line: 1, Col: 1}}, nil
	case 1:
	default:
		return nil, &SuiteError{Pos: posOf(file, docs[1].Body), Msg: "a suite file holds one YAML document; found several"}
	}
	c := converter{file: file, anchors: map[string]*node{}}
	return c.convert(docs[0].Body)
}

// yamlError turns a goccy/go-yaml error into a SuiteError with a position.
func yamlError(file string, err error) error {
	type tokener interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if te, ok := err.(tokener); ok && te.GetToken() != nil && te.GetToken().Position != nil {
		p := te.GetToken().Position
		return &SuiteError{Pos: Pos{File: file, Line: p.Line, Col: p.Column}, Msg: "YAML syntax: " + te.GetMessage()}
	}
	return &SuiteError{Pos: Pos{File: file}, Msg: "YAML syntax: " + err.Error()}
}

func posOf(file string, n ast.Node) Pos {
	if n == nil {
		return Pos{File: file}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: tk.Position.Line, Col: tk.Position.Column}
}

type converter struct {
	file    string
	anchors map[string]*node
	depth   int
	copies  int // nodes copied by expanding aliases: bounded by maxNodes
}

// maxNodes bounds the values that aliases in a suite file may expand to,
// so that a small file of nested aliases (a "billion laughs") cannot
// exhaust memory. Values written out are bounded by prescan's limits
// instead: a suite may list more than maxNodes prompts.
const maxNodes = 100_000

// copyNode deep-copies an aliased value, so that --set and ${var} change
// each use of an alias independently, as if it were written out.
func (c *converter) copyNode(n *node, pos Pos) (*node, error) {
	c.copies++
	if c.copies > maxNodes {
		return nil, &SuiteError{Pos: pos, Msg: fmt.Sprintf("YAML aliases expand to more than %d values", maxNodes)}
	}
	out := *n
	out.keys = append([]string(nil), n.keys...)
	out.keyPos = append([]Pos(nil), n.keyPos...)
	out.items = make([]*node, len(n.items))
	for i, it := range n.items {
		cp, err := c.copyNode(it, pos)
		if err != nil {
			return nil, err
		}
		out.items[i] = cp
	}
	return &out, nil
}

func (c *converter) convert(n ast.Node) (*node, error) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 64 {
		return nil, &SuiteError{Pos: posOf(c.file, n), Msg: "YAML nested too deeply"}
	}
	pos := posOf(c.file, n)
	switch v := n.(type) {
	case nil:
		return &node{kind: nullNode, pos: Pos{File: c.file}}, nil
	case *ast.NullNode:
		return &node{kind: nullNode, pos: pos}, nil
	case *ast.StringNode:
		quoted := v.Token != nil && (v.Token.Type == token.DoubleQuoteType || v.Token.Type == token.SingleQuoteType)
		return &node{kind: scalarNode, value: v.Value, quoted: quoted, pos: pos}, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &node{kind: scalarNode, value: s, quoted: true, pos: pos}, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return &node{kind: scalarNode, value: n.GetToken().Value, pos: pos}, nil
	case *ast.TagNode:
		return nil, &SuiteError{Pos: pos, Msg: "YAML tags (!name) are not supported in suite files"}
	case *ast.AnchorNode:
		inner, err := c.convert(v.Value)
		if err != nil {
			return nil, err
		}
		c.anchors[v.Name.String()] = inner
		return inner, nil
	case *ast.AliasNode:
		name := v.Value.String()
		target, ok := c.anchors[name]
		if !ok {
			return nil, &SuiteError{Pos: pos, Msg: fmt.Sprintf("unknown alias *%s", name)}
		}
		return c.copyNode(target, target.pos)
	case *ast.MappingValueNode:
		m := &node{kind: mapNode, pos: pos}
		return m, c.addPair(m, v)
	case *ast.MappingNode:
		m := &node{kind: mapNode, pos: pos}
		for _, mv := range v.Values {
			if err := c.addPair(m, mv); err != nil {
				return nil, err
			}
		}
		return m, nil
	case *ast.SequenceNode:
		s := &node{kind: seqNode, pos: pos}
		for _, item := range v.Values {
			it, err := c.convert(item)
			if err != nil {
				return nil, err
			}
			s.items = append(s.items, it)
		}
		return s, nil
	default:
		return nil, &SuiteError{Pos: pos, Msg: fmt.Sprintf("unsupported YAML construct %s", n.Type())}
	}
}

func (c *converter) addPair(m *node, mv *ast.MappingValueNode) error {
	if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
		return &SuiteError{Pos: posOf(c.file, mv.Key), Msg: "YAML merge keys (<<) are not supported in suite files"}
	}
	keyPos := posOf(c.file, mv.Key)
	key, err := c.convert(mv.Key)
	if err != nil {
		return err
	}
	if key.kind != scalarNode {
		return &SuiteError{Pos: keyPos, Msg: "mapping keys must be plain strings"}
	}
	if m.get(key.value) != nil {
		return &SuiteError{Pos: keyPos, Msg: fmt.Sprintf("duplicate key %q", key.value)}
	}
	val, err := c.convert(mv.Value)
	if err != nil {
		return err
	}
	if val.kind == nullNode && val.pos.Line == 0 {
		val.pos = keyPos
	}
	m.keys = append(m.keys, key.value)
	m.keyPos = append(m.keyPos, keyPos)
	m.items = append(m.items, val)
	return nil
}

// scalarBool parses a YAML 1.2 core-schema boolean.
func scalarBool(s string) (bool, bool) {
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// scalarInt parses a plain integer scalar: decimal with an optional sign
// ("010" is ten, as in YAML 1.2), 0x hexadecimal or 0o octal, with
// underscores allowed only between digits (1_000).
func scalarInt(s string) (int64, bool) {
	base, digits := 10, s
	switch {
	case strings.HasPrefix(s, "0x"):
		base, digits = 16, s[2:]
	case strings.HasPrefix(s, "0o"):
		base, digits = 8, s[2:]
	}
	if base != 10 && (strings.HasPrefix(digits, "-") || strings.HasPrefix(digits, "+")) {
		return 0, false
	}
	digits, ok := stripUnderscores(digits)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, base, 64)
	return v, err == nil
}

// stripUnderscores removes digit-group underscores, refusing one that is
// not between two digits.
func stripUnderscores(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	isDigit := func(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && (i == 0 || i == len(s)-1 || !isDigit(s[i-1]) || !isDigit(s[i+1])) {
			return "", false
		}
	}
	return strings.ReplaceAll(s, "_", ""), true
}

// scalarFloat parses a plain, finite decimal number. NaN and infinities
// (.nan, .inf, nan, inf, Infinity) are never valid in a suite.
func scalarFloat(s string) (float64, bool) {
	if strings.ContainsAny(s, "xXpP") {
		return 0, false
	}
	s, ok := stripUnderscores(s)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
}
