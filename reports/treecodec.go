package reports

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The analysis tree is stored as JSON written by a reflection walk rather
// than by encoding/json or gob. Why: the report's JSON form is flat and
// lossy (NaN and ±Inf both become null), encoding/json refuses NaN in a
// plain float64, and gob drops a pointer to a zero value (max_increase: 0
// would come back nil). The walk keeps every exported field exactly: NaN
// and ±Inf as strings, nil apart from empty slices and maps, pointers to
// zero values, floats to the last bit. Unexported fields (the caveats an
// analysis gathers while it runs) are not part of the tree.

// treeFormat names the layout of a stored tree: the codec's version and a
// digest of the Analysis type's structure. A stored tree serves only a
// build whose types are the same: adding a field to the analysis (a new
// statistic) makes older trees miss, and the run is analysed again.
var treeFormat = "tree-json/1:" + typeDigest(reflect.TypeFor[Analysis]())

// typeDigest digests the structure of t: kinds, exported field names and
// their types, recursively.
func typeDigest(t reflect.Type) string {
	var b strings.Builder
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if t == reflect.TypeFor[time.Time]() {
			b.WriteString("time")
			return
		}
		switch t.Kind() {
		case reflect.Pointer:
			b.WriteString("*")
			walk(t.Elem())
		case reflect.Slice:
			b.WriteString("[]")
			walk(t.Elem())
		case reflect.Array:
			fmt.Fprintf(&b, "[%d]", t.Len())
			walk(t.Elem())
		case reflect.Map:
			b.WriteString("map[")
			walk(t.Key())
			b.WriteString("]")
			walk(t.Elem())
		case reflect.Struct:
			if seen[t] {
				b.WriteString(t.String())
				return
			}
			seen[t] = true
			b.WriteString(t.String() + "{")
			for f := range t.Fields() {
				if !f.IsExported() {
					continue
				}
				b.WriteString(f.Name + ":")
				walk(f.Type)
				b.WriteString(";")
			}
			b.WriteString("}")
		default:
			b.WriteString(t.Kind().String())
		}
	}
	walk(t)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

// encodeTree encodes an analysis losslessly as JSON (see treeFormat).
func encodeTree(a *Analysis) ([]byte, error) {
	v, err := treeValue(reflect.ValueOf(a).Elem(), "analysis")
	if err != nil {
		return nil, fmt.Errorf("encode analysis: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode analysis: %w", err)
	}
	return b, nil
}

// decodeTree decodes a tree written by encodeTree, and links each
// target's comparisons to the analysis's own, as Analyze leaves them.
func decodeTree(data []byte) (*Analysis, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode analysis: %w", err)
	}
	a := &Analysis{}
	if err := setTree(reflect.ValueOf(a).Elem(), raw, "analysis"); err != nil {
		return nil, fmt.Errorf("decode analysis: %w", err)
	}
	if err := a.relinkComparisons(); err != nil {
		return nil, fmt.Errorf("decode analysis: %w", err)
	}
	return a, nil
}

// relinkComparisons makes every target's comparisons the analysis's own:
// a target holds, in family order, the comparisons on it.
func (a *Analysis) relinkComparisons() error {
	for i := range a.Probes {
		for j := range a.Probes[i].Targets {
			t := &a.Probes[i].Targets[j]
			var own []*Comparison
			for _, c := range a.Comparisons {
				if c.Probe == t.Probe && c.Target == t.Target {
					own = append(own, c)
				}
			}
			if len(own) != len(t.Comparisons) {
				return fmt.Errorf("target %s/%s holds %d comparisons, the family %d", t.Probe, t.Target, len(t.Comparisons), len(own))
			}
			if t.Comparisons != nil {
				t.Comparisons = own
			}
		}
	}
	return nil
}

// Non-finite floats are strings in a tree.
const (
	treeNaN    = "NaN"
	treePosInf = "+Inf"
	treeNegInf = "-Inf"
)

// treeValue turns v into a value encoding/json writes losslessly.
func treeValue(v reflect.Value, path string) (any, error) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		return v.Interface().(time.Time).Format(time.RFC3339Nano), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		if v.Kind() == reflect.Interface {
			return nil, fmt.Errorf("%s: interface values are not stored", path)
		}
		return treeValue(v.Elem(), path)
	case reflect.Struct:
		out := map[string]any{}
		for f := range v.Type().Fields() {
			if !f.IsExported() {
				continue
			}
			x, err := treeValue(v.FieldByIndex(f.Index), path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			out[f.Name] = x
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			x, err := treeValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			k, err := mapKey(it.Key(), path)
			if err != nil {
				return nil, err
			}
			x, err := treeValue(it.Value(), path+"["+k+"]")
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return treeNaN, nil
		case math.IsInf(f, 1):
			return treePosInf, nil
		case math.IsInf(f, -1):
			return treeNegInf, nil
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	}
	return nil, fmt.Errorf("%s: values of kind %s are not stored", path, v.Kind())
}

// setTree sets v from a value treeValue wrote (decoded with UseNumber).
// Fields the data lacks keep their zero value; fields the type lacks are
// ignored.
func setTree(v reflect.Value, x any, path string) error {
	if v.Type() == reflect.TypeFor[time.Time]() {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("%s: want a time, got %T", path, x)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v.Set(reflect.ValueOf(t))
		return nil
	}
	if x == nil {
		v.SetZero()
		return nil
	}
	bad := func() error { return fmt.Errorf("%s: want %s, got %T", path, v.Type(), x) }
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := setTree(p.Elem(), x, path); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Struct:
		m, ok := x.(map[string]any)
		if !ok {
			return bad()
		}
		for f := range v.Type().Fields() {
			if !f.IsExported() {
				continue
			}
			if fx, ok := m[f.Name]; ok {
				if err := setTree(v.FieldByIndex(f.Index), fx, path+"."+f.Name); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		xs, ok := x.([]any)
		if !ok {
			return bad()
		}
		if v.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(v.Type(), len(xs), len(xs)))
		} else if len(xs) != v.Len() {
			return fmt.Errorf("%s: want %d elements, got %d", path, v.Len(), len(xs))
		}
		for i, e := range xs {
			if err := setTree(v.Index(i), e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, ok := x.(map[string]any)
		if !ok {
			return bad()
		}
		out := reflect.MakeMapWithSize(v.Type(), len(m))
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := setTree(e, m[k], path+"["+k+"]"); err != nil {
				return err
			}
			key := reflect.New(v.Type().Key()).Elem()
			if err := setMapKey(key, k, path); err != nil {
				return err
			}
			out.SetMapIndex(key, e)
		}
		v.Set(out)
	case reflect.Float32, reflect.Float64:
		switch x {
		case treeNaN:
			v.SetFloat(math.NaN())
			return nil
		case treePosInf:
			v.SetFloat(math.Inf(1))
			return nil
		case treeNegInf:
			v.SetFloat(math.Inf(-1))
			return nil
		}
		n, ok := x.(json.Number)
		if !ok {
			return bad()
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v.SetFloat(f)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := x.(json.Number)
		if !ok {
			return bad()
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := x.(json.Number)
		if !ok {
			return bad()
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v.SetUint(u)
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return bad()
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return bad()
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("%s: values of kind %s are not stored", path, v.Kind())
	}
	return nil
}

// mapKey writes a map key of a tree: a string, or an integer in decimal.
func mapKey(k reflect.Value, path string) (string, error) {
	switch k.Kind() {
	case reflect.String:
		return k.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("%s: map keys of kind %s are not stored", path, k.Kind())
}

// setMapKey sets a map key written by mapKey.
func setMapKey(k reflect.Value, s, path string) error {
	switch k.Kind() {
	case reflect.String:
		k.SetString(s)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || k.OverflowInt(i) {
			return fmt.Errorf("%s: map key %q is not a %s", path, s, k.Type())
		}
		k.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil || k.OverflowUint(u) {
			return fmt.Errorf("%s: map key %q is not a %s", path, s, k.Type())
		}
		k.SetUint(u)
		return nil
	}
	return fmt.Errorf("%s: map keys of kind %s are not stored", path, k.Kind())
}
