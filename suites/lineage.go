package suites

import (
	"fmt"
	"slices"
	"strings"
)

// LineagePlaceholder prefixes the model id of an instance whose role names
// students by lineage (Model.Lineage) that are not resolved yet: such a
// suite can be validated and described, but not run.
const LineagePlaceholder = "lineage:"

// AllSeeds, as a lineage role's only seed, selects every seed the lineage
// has.
const AllSeeds = "all"

// LineageRef is a parsed Model.Lineage: the experiment that recorded the
// students and the arm (the experiment's name for one kind of student:
// student, control, ...).
type LineageRef struct {
	Experiment string
	Arm        string
}

// String formats the reference as "EXPERIMENT/ARM".
func (r LineageRef) String() string { return r.Experiment + "/" + r.Arm }

// ParseLineage parses "EXPERIMENT/ARM", or "EXPERIMENT" with role as the
// arm. Both names use letters, digits, - and _.
func ParseLineage(ref, role string) (LineageRef, error) {
	exp, arm, ok := strings.Cut(ref, "/")
	if !ok {
		arm = role
	}
	if !namePattern.MatchString(exp) {
		return LineageRef{}, fmt.Errorf("lineage %q: the experiment name %q must use letters, digits, - and _", ref, exp)
	}
	if !namePattern.MatchString(arm) {
		return LineageRef{}, fmt.Errorf("lineage %q: the arm %q must use letters, digits, - and _ (write EXPERIMENT/ARM)", ref, arm)
	}
	return LineageRef{Experiment: exp, Arm: arm}, nil
}

// Ref returns the parsed lineage of m; ok is false when m names no
// lineage. The error reports a malformed reference.
func (m *Role) Ref() (ref LineageRef, ok bool, err error) {
	if m.Lineage == "" {
		return LineageRef{}, false, nil
	}
	ref, err = ParseLineage(m.Lineage, m.Role)
	return ref, true, err
}

// Resolved reports whether m's model ids are known: it names no lineage,
// or its lineage was resolved (one model id per seed).
func (m *Role) Resolved() bool {
	return m.Lineage == "" || len(m.Model) > 0
}

// WantSeeds returns the seeds a lineage role asks for: nil for every
// seed of the lineage (seeds omitted or "all"), else the listed labels.
func (m *Role) WantSeeds() []string {
	if len(m.Seeds) == 0 || len(m.Seeds) == 1 && m.Seeds[0] == AllSeeds {
		return nil
	}
	return slices.Clone(m.Seeds)
}

// ResolveLineage fills a lineage role with the students found for it: one
// model id per seed label, all served at baseURL with the key in
// apiKeyEnv. The suite must be checked again afterwards (Suite.Check).
func (m *Role) ResolveLineage(seeds, models []string, baseURL, apiKeyEnv string) error {
	if m.Lineage == "" {
		return fmt.Errorf("model %s names no lineage", m.Role)
	}
	if len(seeds) == 0 || len(seeds) != len(models) {
		return fmt.Errorf("model %s: %d seeds for %d students", m.Role, len(seeds), len(models))
	}
	m.Seeds = slices.Clone(seeds)
	m.Model = slices.Clone(models)
	m.BaseURL, m.APIKeyEnv = baseURL, apiKeyEnv
	return nil
}

// UnresolvedLineage returns the first role whose students are named by a
// lineage not resolved yet, or "" when every model id is known.
func (s *Suite) UnresolvedLineage() string {
	for _, m := range s.Models {
		if !m.Resolved() {
			return m.Role
		}
	}
	return ""
}

// checkLineage validates a role that names students by lineage: a
// well-formed reference, and seeds "all" or unique labels; a resolved
// role has one model id per seed.
func (m *Role) checkLineage(path string, fail func(string, string, ...any) error) error {
	if _, err := ParseLineage(m.Lineage, m.Role); err != nil {
		return fail(path+".lineage", "%v", err)
	}
	if len(m.Model) > 0 {
		// A resolved role (a recorded suite) has one model id per seed
		// label; a model given with seeds "all" is a mistake in the file.
		if len(m.Model) != len(m.Seeds) || m.WantSeeds() == nil {
			return fail(path+".model", "with lineage, leave model out: the students' ids come from the results database")
		}
		return nil
	}
	if want := m.WantSeeds(); want != nil {
		for i, seed := range want {
			if seed == AllSeeds || !namePattern.MatchString(seed) || slices.Index(want, seed) != i {
				return fail(fmt.Sprintf("%s.seeds[%d]", path, i), "seed %q must be unique and use letters, digits, - and _ (or give seeds: all alone)", seed)
			}
		}
	}
	return nil
}
