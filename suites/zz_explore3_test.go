package suites

import (
	"fmt"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestZZOctal(t *testing.T) {
	for _, s := range []string{"010", "09", "0o10", "0x10", "1_0", "+5", "0b11", "1e2", "nan", "Infinity", "-inf", "0x1p-2", "1__0", "_1"} {
		var v any
		err := yaml.Unmarshal([]byte("v: "+s), &v)
		n, ok := scalarInt(s)
		f, fok := scalarFloat(s)
		fmt.Printf("%-8s goccy=%#v err=%v  scalarInt=%d,%v scalarFloat=%v,%v\n", s, v, err, n, ok, f, fok)
	}
}
