package suites

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// decoder fills Go values from a node tree. Struct fields are matched by
// their `yaml:"name"` tag; unknown keys and wrong types are SuiteErrors at
// the offending value. It records the position of every decoded field so
// that later validation can point at it.
type decoder struct {
	positions map[string]Pos
	nulls     map[string]bool // fields given an empty value
}

// nodeDecoder is implemented by types with a union shape (a scalar or a
// list, a list or a mapping) that the generic rules cannot express.
type nodeDecoder interface {
	decodeNode(d *decoder, n *node, path string) error
}

var (
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
	durationType    = reflect.TypeFor[time.Duration]()
)

func (d *decoder) errorf(n *node, path, format string, args ...any) error {
	return &SuiteError{Pos: n.pos, Field: path, Msg: fmt.Sprintf(format, args...)}
}

func joinPath(path, key string) string {
	if key == "" {
		return path
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode stores n into v, which must be addressable.
func (d *decoder) decode(n *node, v reflect.Value, path string) error {
	d.positions[path] = n.pos
	if n.kind == nullNode {
		d.nulls[path] = true // an empty value counts as missing
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		return v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
	}
	if v.Kind() == reflect.Pointer {
		if n.kind == nullNode {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	}
	if n.kind == nullNode {
		// An empty value (`key:` or --set key=) unsets the field; validation
		// then reports it if it is required.
		v.SetZero()
		return nil
	}
	if v.Type() == durationType {
		return d.decodeDuration(n, v, path)
	}

	switch v.Kind() {
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.kind != seqNode {
			return d.errorf(n, path, "want a list, got %s", n.describe())
		}
		s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
		for i, item := range n.items {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.kind != mapNode {
			return d.errorf(n, path, "want a mapping, got %s", n.describe())
		}
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("suites: internal error: map key type %s", v.Type().Key())
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.keys))
		for i, k := range n.keys {
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(n.items[i], ev, joinPath(path, k)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
		return nil
	case reflect.String:
		if n.kind != scalarNode {
			return d.errorf(n, path, "want a string, got %s", n.describe())
		}
		v.SetString(n.value)
		return nil
	case reflect.Bool:
		b, ok := scalarBool(n.value)
		if n.kind != scalarNode || n.quoted || !ok {
			return d.errorf(n, path, "want true or false, got %s", n.describe())
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, ok := scalarInt(n.value)
		if n.kind != scalarNode || n.quoted || !ok {
			return d.errorf(n, path, "want an integer, got %s", n.describe())
		}
		if v.OverflowInt(i) {
			return d.errorf(n, path, "integer %s out of range", n.value)
		}
		v.SetInt(i)
		return nil
	case reflect.Float64:
		f, ok := scalarFloat(n.value)
		if n.kind != scalarNode || n.quoted || !ok {
			return d.errorf(n, path, "want a number, got %s", n.describe())
		}
		v.SetFloat(f)
		return nil
	}
	return fmt.Errorf("suites: internal error: cannot decode into %s", v.Type())
}

func (d *decoder) decodeDuration(n *node, v reflect.Value, path string) error {
	if n.kind != scalarNode {
		return d.errorf(n, path, "want a duration like 30s, got %s", n.describe())
	}
	const maxSeconds = 1e6 // about 11.6 days; far beyond any useful timeout
	if f, ok := scalarFloat(n.value); ok && !n.quoted {
		if f > maxSeconds || f < -maxSeconds {
			return d.errorf(n, path, "duration of %s seconds is out of range", n.value)
		}
		v.SetInt(int64(f * float64(time.Second)))
		return nil
	}
	dur, err := time.ParseDuration(n.value)
	if err != nil {
		return d.errorf(n, path, "want a duration like 30s or 1m30s, got %s", n.describe())
	}
	if dur > maxSeconds*time.Second || dur < -maxSeconds*time.Second {
		return d.errorf(n, path, "duration %s is out of range", n.value)
	}
	v.SetInt(int64(dur))
	return nil
}

// structFields maps YAML keys to field index paths of a struct type.
// Fields tagged `yaml:",inline"` contribute their own fields.
func structFields(t reflect.Type) (map[string][]int, []string) {
	fields := map[string][]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		if opt == "inline" {
			sub, subNames := structFields(f.Type)
			for _, n := range subNames {
				fields[n] = append([]int{i}, sub[n]...)
				names = append(names, n)
			}
			continue
		}
		fields[name] = []int{i}
		names = append(names, name)
	}
	return fields, names
}

func (d *decoder) decodeStruct(n *node, v reflect.Value, path string) error {
	if n.kind != mapNode {
		return d.errorf(n, path, "want a mapping, got %s", n.describe())
	}
	fields, names := structFields(v.Type())
	for i, k := range n.keys {
		idx, ok := fields[k]
		if !ok {
			return &SuiteError{Pos: n.keyPos[i], Field: joinPath(path, k),
				Msg: fmt.Sprintf("unknown key %q (want one of: %s)", k, strings.Join(names, ", "))}
		}
		if err := d.decode(n.items[i], v.FieldByIndex(idx), joinPath(path, k)); err != nil {
			return err
		}
	}
	return nil
}

// StringList is one string or a list of strings in YAML.
type StringList []string

func (s *StringList) decodeNode(d *decoder, n *node, path string) error {
	switch n.kind {
	case nullNode:
		// An empty value (`key:` or --set key=) unsets the list, as it
		// unsets any field; validation reports it if it is required.
		*s = nil
		return nil
	case scalarNode:
		*s = StringList{n.value}
		return nil
	case seqNode:
		out := make(StringList, len(n.items))
		for i, it := range n.items {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.positions[p] = it.pos
			if it.kind != scalarNode {
				return d.errorf(it, p, "want a string, got %s", it.describe())
			}
			out[i] = it.value
		}
		*s = out
		return nil
	}
	return d.errorf(n, path, "want a string or a list of strings, got %s", n.describe())
}

// formatFloat prints a float the way a user would write it in YAML.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// reflectValue returns the addressable value that ptr points to.
func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
