package suites

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// BuiltinNames returns the names of the built-in suites, sorted.
func BuiltinNames() []string {
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// BuiltinSource returns the YAML text of a built-in suite.
func BuiltinSource(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown built-in suite %q (have %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return b, nil
}

// Open loads a suite from a file path or, when no such file exists and
// the argument names a built-in suite, from the built-in suite. Overrides
// are "KEY=VALUE" strings as given to --set. It is Loader{}.Open: the
// suite reads files only from its own directory.
func Open(nameOrPath string, overrides []string) (*Suite, error) {
	return Loader{}.Open(nameOrPath, overrides)
}

// Parse decodes and validates a suite. file names the source in errors;
// dir resolves relative prompt files ("" for the working directory), and
// confines them. Errors about the file are *SuiteError values carrying
// file:line:col. It is Loader{}.Parse.
func Parse(file string, src []byte, dir string, overrides []string) (*Suite, error) {
	return Loader{}.Parse(file, src, dir, overrides)
}

// parse is Loader.Parse with the loader's allowed directories.
func parse(file string, src []byte, dir string, overrides []string, allow []string) (*Suite, error) {
	root, err := parseYAML(file, src)
	if err != nil {
		return nil, err
	}
	if root.kind == nullNode {
		return nil, &SuiteError{Pos: root.pos, Msg: "empty suite file"}
	}
	if root.kind != mapNode {
		return nil, &SuiteError{Pos: root.pos, Msg: fmt.Sprintf("a suite is a mapping, got %s", root.describe())}
	}
	for _, o := range overrides {
		if err := applyOverride(root, o); err != nil {
			return nil, err
		}
	}
	if err := substituteVars(root); err != nil {
		return nil, err
	}
	s := &Suite{Source: file, allowFiles: allow}
	d := &decoder{positions: map[string]Pos{}, nulls: map[string]bool{}}
	if err := d.decode(root, reflectValue(s), ""); err != nil {
		return nil, err
	}
	s.positions, s.nulls = d.positions, d.nulls
	if err := s.validate(dir, true); err != nil {
		return nil, err
	}
	return s, nil
}

// applyOverride sets one "KEY=VALUE" override in the tree. KEY is a dotted
// path; list elements are selected by index (probes[0] or probes.0) or by
// their id (probes.favorite-animal). VALUE is YAML ("0.5", "[a, b]").
func applyOverride(root *node, kv string) error {
	key, value, ok := strings.Cut(kv, "=")
	origin := "--set " + kv
	if !ok || key == "" {
		return &SuiteError{Pos: Pos{File: origin}, Msg: "want KEY=VALUE"}
	}
	val, err := parseYAML(origin, []byte(value))
	if err != nil {
		return err
	}
	setPos(val, Pos{File: origin})
	segs, err := splitPath(key)
	if err != nil {
		return &SuiteError{Pos: Pos{File: origin}, Msg: err.Error()}
	}
	cur := root
	for i, seg := range segs {
		last := i == len(segs)-1
		switch cur.kind {
		case mapNode:
			if last {
				cur.set(seg, val)
				return nil
			}
			next := cur.get(seg)
			if next == nil || next.kind == nullNode {
				next = &node{kind: mapNode, pos: Pos{File: origin}}
				cur.set(seg, next)
			}
			cur = next
		case seqNode:
			idx := -1
			if n, err := strconv.Atoi(seg); err == nil {
				idx = n
			} else {
				for j, it := range cur.items {
					if it.kind == mapNode {
						if id := it.get("id"); id != nil && id.value == seg {
							idx = j
						}
					}
				}
			}
			if idx < 0 || idx >= len(cur.items) {
				return &SuiteError{Pos: Pos{File: origin}, Msg: fmt.Sprintf("%s: no list element %q (the list has %d)", strings.Join(segs[:i], "."), seg, len(cur.items))}
			}
			if last {
				cur.items[idx] = val
				return nil
			}
			cur = cur.items[idx]
		default:
			return &SuiteError{Pos: Pos{File: origin}, Msg: fmt.Sprintf("%s is %s, not a mapping or list", strings.Join(segs[:i], "."), cur.describe())}
		}
	}
	return nil
}

// splitPath splits "a.b[0].c" into ["a", "b", "0", "c"].
func splitPath(key string) ([]string, error) {
	var segs []string
	for _, part := range strings.Split(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name == "" && rest == "" {
			return nil, fmt.Errorf("bad key %q: empty path element", key)
		}
		if name != "" {
			segs = append(segs, name)
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok || idx == "" {
				return nil, fmt.Errorf("bad key %q: unbalanced [", key)
			}
			segs = append(segs, idx)
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs, nil
}

func setPos(n *node, p Pos) {
	n.pos = p
	for i := range n.keyPos {
		n.keyPos[i] = p
	}
	for _, it := range n.items {
		setPos(it, p)
	}
}

var varRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substituteVars replaces ${name} in every scalar outside "vars" with the
// value of vars.name. "$${" stands for a literal "${".
func substituteVars(root *node) error {
	vars := map[string]string{}
	if v := root.get("vars"); v != nil && v.kind == mapNode {
		for i, k := range v.keys {
			if v.items[i].kind != scalarNode {
				return &SuiteError{Pos: v.items[i].pos, Field: "vars." + k, Msg: "want a string"}
			}
			vars[k] = v.items[i].value
		}
	}
	var walk func(n *node, path string) error
	walk = func(n *node, path string) error {
		switch n.kind {
		case scalarNode:
			if !strings.Contains(n.value, "${") {
				return nil
			}
			var missing string
			out := varRef.ReplaceAllStringFunc(n.value, func(m string) string {
				if m == "$${" {
					return "${"
				}
				name := m[2 : len(m)-1]
				v, ok := vars[name]
				if !ok && missing == "" {
					missing = name
				}
				return v
			})
			if missing != "" {
				return &SuiteError{Pos: n.pos, Field: path, Msg: fmt.Sprintf("undefined variable ${%s} (define it under vars, or --set vars.%s=VALUE)", missing, missing)}
			}
			n.value = out
		case mapNode:
			for i, k := range n.keys {
				if path == "" && k == "vars" {
					continue
				}
				if err := walk(n.items[i], joinPath(path, k)); err != nil {
					return err
				}
			}
		case seqNode:
			for i, it := range n.items {
				if err := walk(it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root, "")
}

// Hash returns a hex SHA-256 of the suite's canonical JSON form (after
// vars and overrides, with prompts resolved), identifying its content.
func (s *Suite) Hash() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("suites: marshal suite: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
