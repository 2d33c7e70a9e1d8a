package suites

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Document is a YAML file of another schema (an experiment file, say)
// decoded with the suite loader's rules: the same size, nesting and key
// limits and YAML subset (no tags, no merge keys, one document), --set
// overrides, ${name} variables from its top-level vars mapping, the same
// typed decoding (unknown keys and wrong types refused at their line and
// column; this package's types such as Settings and StringList decode as
// in a suite), and the position of every decoded field, so that
// validation after decoding can point at the offending field.
type Document struct {
	// File names the source in errors: a path, or "builtin:NAME".
	File string

	positions map[string]Pos
	nulls     map[string]bool
}

// DecodeDocument parses src (named file in errors), applies overrides
// ("KEY=VALUE" strings as given to --set) and ${vars}, and decodes the
// result into dst, a pointer to a struct whose fields carry `yaml` tags.
// what names the kind of file in errors ("experiment"). Errors about the
// file are *SuiteError values carrying file:line:col.
func DecodeDocument(file string, src []byte, overrides []string, what string, dst any) (*Document, error) {
	root, err := parseYAML(file, src)
	if err != nil {
		return nil, err
	}
	if root.kind == nullNode {
		return nil, &SuiteError{Pos: root.pos, Msg: "empty " + what + " file"}
	}
	if root.kind != mapNode {
		return nil, &SuiteError{Pos: root.pos, Msg: fmt.Sprintf("an %s is a mapping, got %s", what, root.describe())}
	}
	for _, o := range overrides {
		if err := applyOverride(root, o); err != nil {
			return nil, err
		}
	}
	if err := substituteVars(root); err != nil {
		return nil, err
	}
	d := &decoder{positions: map[string]Pos{}, nulls: map[string]bool{}}
	if err := d.decode(root, reflectValue(dst), ""); err != nil {
		return nil, err
	}
	return &Document{File: file, positions: d.positions, nulls: d.nulls}, nil
}

// Position returns the position of a field path such as "data.size", or
// of the closest enclosing field that has one.
func (d *Document) Position(path string) Pos {
	for p := path; ; {
		if pos, ok := d.positions[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	if pos, ok := d.positions[""]; ok {
		return pos
	}
	return Pos{File: d.File}
}

// Given reports whether the field path was given a non-empty value (in
// the file or by --set).
func (d *Document) Given(path string) bool {
	_, ok := d.positions[path]
	return ok && !d.nulls[path]
}

// Keys returns the keys of the mapping at path in file order (keys added
// by --set last, by name).
func (d *Document) Keys(path string) []string {
	prefix := path + "."
	if path == "" {
		prefix = ""
	}
	type key struct {
		name string
		pos  Pos
	}
	var keys []key
	for p, pos := range d.positions {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" || strings.ContainsAny(rest, ".[") {
			continue
		}
		keys = append(keys, key{rest, pos})
	}
	slices.SortFunc(keys, func(a, b key) int {
		// A --set value has no line: after the file's keys.
		al, bl := a.pos.Line, b.pos.Line
		if al == 0 {
			al = 1 << 30
		}
		if bl == 0 {
			bl = 1 << 30
		}
		return cmp.Or(cmp.Compare(al, bl), cmp.Compare(a.pos.Col, b.pos.Col), strings.Compare(a.name, b.name))
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Errorf returns a *SuiteError at the field path.
func (d *Document) Errorf(path, format string, args ...any) error {
	return &SuiteError{Pos: d.Position(path), Field: path, Msg: fmt.Sprintf(format, args...)}
}

// CheckSettings validates generation settings at path with a suite's
// rules (temperature in [0, 2], max_tokens ≥ 1, ...).
func (d *Document) CheckSettings(path string, s Settings) error {
	return s.validate(path, d.Errorf)
}

// CheckEndpoint validates a base URL (empty is allowed) and an API key
// variable name at path with a suite's rules.
func (d *Document) CheckEndpoint(path, baseURL, apiKeyEnv string) error {
	return checkEndpoint(path, &Role{BaseURL: baseURL, APIKeyEnv: apiKeyEnv}, d.Errorf)
}

// ValidName reports whether s is a valid suite, role or probe name:
// letters, digits, - and _, not starting with - or _.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// ReadConfined reads a file a suite or document names, with a suite's
// rules for prompt files: name is relative to dir (the file's directory,
// "" for the working directory) unless absolute, and must resolve (after
// symbolic links) into dir or one of allow; a regular UTF-8 text file of
// at most limit bytes, its byte order mark dropped.
func ReadConfined(name, dir string, allow []string, limit int64) ([]byte, error) {
	return readSuiteFile(name, dir, allow, limit)
}

// ReadSource reads a suite or document file of at most MaxSuiteBytes (one
// byte more is read, so that the parser can refuse a longer file); a
// device or FIFO that never ends is read no further.
func ReadSource(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSource(f)
}

// readSource reads f as ReadSource does. A regular file is read into one
// buffer of its size.
func readSource(f *os.File) ([]byte, error) {
	hint := int64(bytes.MinRead)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		hint = min(fi.Size(), MaxSuiteBytes) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, hint))
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxSuiteBytes+1)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
