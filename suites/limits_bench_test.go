package suites

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseLimits measures loading texts at and past the limits:
// time, bytes allocated per operation (B/op) and per input byte
// (alloc-B/byte). Pathological texts are refused by the pre-scan in
// microseconds; accepted ones cost a few hundred bytes per input byte,
// all of it goccy/go-yaml's tokens and syntax tree. Run it with
//
//	go test ./suites -run='^$' -bench=ParseLimits -benchtime=3x
//
// Before the pre-scan, "nested-80KB" took about 10 s and 2.5 GB,
// "keys-20000" and "tag-chain-96KB" seconds, and "quoted-prompts-10MiB"
// failed with an alias-expansion message.
func BenchmarkParseLimits(b *testing.B) {
	quoted := func(size int) string {
		var s strings.Builder
		s.WriteString("name: big\nmodels:\n  a: {model: m}\nprobes:\n  - id: p\n    samples: 1\n    score: {mentions: owl}\n    prompts:\n")
		for i := 0; ; i++ {
			line := fmt.Sprintf("      - \"prompt number %d is a longish prompt about owls and other animals of the forest\"\n", i)
			if s.Len()+len(line) > size {
				return s.String()
			}
			s.WriteString(line)
		}
	}
	plain := func(n int) string {
		var s strings.Builder
		s.WriteString("name: big\nmodels:\n  a: {model: m}\nprobes:\n  - id: p\n    samples: 1\n    score: {mentions: owl}\n    prompts:\n")
		for i := range n {
			fmt.Fprintf(&s, "      - prompt %d\n", i)
		}
		return s.String()
	}
	cases := []struct {
		name string
		src  string
	}{
		// Refused: nesting, size.
		{"nested-80KB", "name: s\nprobes: " + strings.Repeat("[", 80_000) + "\n"},
		{"nested-balanced-80KB", "name: s\nprobes: " + strings.Repeat("[", 40_000) + strings.Repeat("]", 40_000) + "\n"},
		{"compact-lists-80KB", strings.Repeat("- ", 40_000) + "x\n"},
		{"over-size-11MiB", quoted(11 << 20)},
		{"keys-20000", func() string {
			var s strings.Builder
			for i := range 20_000 {
				fmt.Fprintf(&s, "k%d: v\n", i)
			}
			return s.String()
		}()},
		{"tag-chain-96KB", strings.Repeat("a: !t\n", 16_000)},
		{"dash-key-chain-100KB", strings.Repeat("-\na:\n", 20_000)},
		// Accepted by the pre-scan: the costliest texts within the limits.
		{"dense-at-marks-limit", "name: d\ndescription: [" + strings.Repeat("[a],", 166_000) + "]\n"},
		{"keys-256-a-mapping-at-marks-limit", func() string {
			var s strings.Builder
			s.WriteString("description:\n")
			for m := range 970 {
				for k := range 256 {
					if k == 0 {
						fmt.Fprintf(&s, "  - k%d: %d\n", k, m)
					} else {
						fmt.Fprintf(&s, "    k%d: v\n", k)
					}
				}
			}
			return s.String()
		}()},
		{"plain-prompts-100010", plain(100_010)},
		{"quoted-prompts-10MiB", quoted(MaxSuiteBytes)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src := []byte(c.src)
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			var alloc uint64
			for b.Loop() {
				alloc += allocated(func() { _, _ = Parse("t.yaml", src, "", nil) })
			}
			b.ReportMetric(float64(alloc)/float64(b.N)/float64(len(src)), "alloc-B/byte")
		})
	}
}
