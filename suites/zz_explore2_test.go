package suites

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestZZLaughs(t *testing.T) {
	for levels := 3; levels <= 7; levels++ {
		lines := []string{"name: x", "models: {a: {model: m}}", "vars: {}", "a0: &a0 [x,x,x,x,x,x,x,x,x,x]"}
		for i := 1; i < levels; i++ {
			lines = append(lines, fmt.Sprintf("a%d: &a%d [%s]", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10), ",")))
		}
		src := strings.Join(lines, "\n")
		start := time.Now()
		root, err := parseYAML("t.yaml", []byte(src))
		fmt.Println("parse", time.Since(start))
		_ = substituteVars(root)
		fmt.Println("subst", time.Since(start))
		fmt.Println(levels, len(src), time.Since(start), err)
	}
}
