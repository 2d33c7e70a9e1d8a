package suites

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestGateLevel loads the level key of a gate: absent, sample and seed are
// kept as written, and the suite's hash does not change when the key is
// absent (it is left out of the suite's JSON when empty).
func TestGateLevel(t *testing.T) {
	const head = `name: s
models: {a: {model: "m@{seed}", seeds: [1, 2, 3]}, b: {model: "n@{seed}", seeds: [1, 2, 3]}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	for _, tt := range []struct {
		name, gate, want string
	}{
		// No key: the zero value, which means the sample level.
		{"absent", `{treatment: a, baseline: b, max_increase: 0.06}`, ""},
		// Both valid values are kept verbatim.
		{"sample", `{treatment: a, baseline: b, max_increase: 0.06, level: sample}`, GateLevelSample},
		{"seed", `{treatment: a, baseline: b, max_increase: 0.06, level: seed, test: seeds}`, GateLevelSeed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, head+"gates: ["+tt.gate+"]\n")
			if got := s.Gates[0].Level; got != tt.want {
				t.Errorf("Gates[0].Level = %q; want %q", got, tt.want)
			}
		})
	}
	// A suite without the key hashes as before the key existed: the
	// omitted field adds nothing to its JSON.
	s := mustParse(t, head+"gates: [{treatment: a, baseline: b, max_increase: 0.06}]\n")
	if b, err := json.Marshal(s); err != nil || bytes.Contains(b, []byte(`"Level"`)) {
		t.Errorf("suite JSON %s (err %v); want no Level key", b, err)
	}
	// --set reaches the key, as for every other gate field.
	s, err := parseString(head+"gates: [{treatment: a, baseline: b, max_increase: 0.06}]\n", "gates[0].level=seed")
	if err != nil || s.Gates[0].Level != GateLevelSeed {
		t.Fatalf("--set gates[0].level=seed: level %q, err %v; want seed", s.Gates[0].Level, err)
	}
}

// TestGateLevelErrors checks that a bad level is refused at its position,
// and that a sequential gate may judge its fixed-sample evidence at the
// seed level.
func TestGateLevelErrors(t *testing.T) {
	const head = `name: s
models: {a: {model: m}, b: {model: n}}
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`
	for _, tt := range []errorTest{
		{
			name: "unknown gate level",
			// Column 63 is the 's' of "seeds", the value of level.
			src: head + "gates: [{treatment: a, baseline: b, max_increase: 0.1, level: seeds}]\n",
			pos: "4:63", field: "gates[0].level", msg: `unknown level "seeds" (want sample or seed)`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(tt.src, tt.sets...)
			checkSuiteError(t, fmt.Sprintf("Parse(%q)", tt.src), err, tt)
		})
	}
	// The sequential verdict stays; level picks the evidence quoted.
	s, err := parseString(head + "gates: [{treatment: a, baseline: b, max_increase: 0.1, level: seed, sequential: {}}]\n")
	if err != nil || s.Gates[0].Level != GateLevelSeed || s.Gates[0].Sequential == nil {
		t.Errorf("sequential gate with level: seed: %v; want it accepted", err)
	}
}
