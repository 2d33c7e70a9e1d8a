package suites

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Check validates a suite that was changed in Go rather than parsed (a
// recorded suite edited by rescore, say). Prompts keep their resolved
// texts.
func (s *Suite) Check() error { return s.validate("", false) }

// validate checks everything the decoder cannot: required fields, ranges,
// references between sections. With resolve it also loads the prompts,
// files relative to dir.
func (s *Suite) validate(dir string, resolve bool) error {
	fail := func(path, format string, args ...any) error {
		return &SuiteError{Pos: s.Position(path), Field: path, Msg: fmt.Sprintf(format, args...)}
	}
	if s.Name == "" {
		return fail("name", "missing suite name")
	}
	if !namePattern.MatchString(s.Name) {
		return fail("name", "name %q: use letters, digits, - and _", s.Name)
	}
	if len(s.Models) == 0 {
		return fail("models", "missing models: name at least one model role")
	}
	if err := s.Defaults.validate("defaults", fail); err != nil {
		return err
	}
	for _, m := range s.Models {
		path := "models." + m.Role
		if !namePattern.MatchString(m.Role) {
			return fail(path, "role %q: use letters, digits, - and _", m.Role)
		}
		if m.Lineage != "" {
			if err := m.checkLineage(path, fail); err != nil {
				return err
			}
		} else if len(m.Model) == 0 {
			return fail(path+".model", "missing model id")
		}
		for i, id := range m.Model {
			if strings.TrimSpace(id) == "" {
				return fail(fmt.Sprintf("%s.model[%d]", path, i), "empty model id")
			}
		}
		if len(m.Seeds) == 0 && slices.ContainsFunc(m.Model, func(id string) bool { return strings.Contains(id, "{seed}") }) {
			return fail(path+".model", "the model id contains {seed} but the role lists no seeds")
		}
		if len(m.Seeds) > 0 && m.Lineage == "" {
			if len(m.Model) > 1 && len(m.Model) != len(m.Seeds) {
				return fail(path+".seeds", "%d seeds for %d model ids: give one id per seed, or one id containing {seed}", len(m.Seeds), len(m.Model))
			}
			if len(m.Model) == 1 && !strings.Contains(m.Model[0], "{seed}") {
				return fail(path+".model", "with seeds, the model id must contain {seed} (or list one id per seed)")
			}
			for i, seed := range m.Seeds {
				if !namePattern.MatchString(seed) || slices.Index(m.Seeds, seed) != i {
					return fail(fmt.Sprintf("%s.seeds[%d]", path, i), "seed %q must be unique and use letters, digits, - and _", seed)
				}
			}
		}
		if err := checkEndpoint(path, m, fail); err != nil {
			return err
		}
		if m.Condition != "" && !slices.Contains(Conditions, m.Condition) {
			return fail(path+".condition", "unknown condition %q (want one of %s)", m.Condition, strings.Join(Conditions, ", "))
		}
		if err := m.Settings.validate(path, fail); err != nil {
			return err
		}
		if err := s.validateRate(path, m, fail); err != nil {
			return err
		}
	}
	if len(s.Probes) == 0 {
		return fail("probes", "missing probes: declare at least one probe")
	}
	ids := map[string]bool{}
	for i, p := range s.Probes {
		path := fmt.Sprintf("probes[%d]", i)
		if p == nil {
			return fail(path, "empty probe")
		}
		if p.ID == "" {
			return fail(path, "missing probe id")
		}
		if !namePattern.MatchString(p.ID) {
			return fail(path+".id", "id %q: use letters, digits, - and _", p.ID)
		}
		if ids[p.ID] {
			return fail(path+".id", "duplicate probe id %q", p.ID)
		}
		ids[p.ID] = true
		if !resolve && len(p.Prompts.Texts) == 0 {
			return fail(path+".prompts", "no prompts")
		}
		if resolve {
			if sub, err := p.Prompts.resolve(dir, s.allowFiles); err != nil {
				return fail(joinPath(path+".prompts", sub), "%v", err)
			}
		}
		if _, ok := s.positions[path+".samples"]; !ok && resolve {
			return fail(path, "missing samples (draws per prompt per model)")
		}
		if s.nulls[path+".samples"] {
			return fail(path+".samples", "missing samples (draws per prompt per model)")
		}
		if p.Samples < 1 || p.Samples > 1_000_000 {
			return fail(path+".samples", "samples per prompt must be in [1, 1000000], got %d", p.Samples)
		}
		if _, ok := s.positions[path+".score"]; (!ok || s.nulls[path+".score"]) && resolve {
			return fail(path, "missing score (e.g. score: {mentions: owl})")
		}
		if sub, err := p.Score.validate(s); err != nil {
			return fail(joinPath(path+".score", sub), "%v", err)
		}
		for j, r := range p.Models {
			if s.Role(r) == nil {
				return fail(fmt.Sprintf("%s.models[%d]", path, j), "unknown model role %q", r)
			}
		}
	}
	for i, c := range s.Compare {
		path := fmt.Sprintf("compare[%d]", i)
		if err := s.checkPair(path, c.Treatment, c.Baseline, c.Probe, c.Target, fail); err != nil {
			return err
		}
	}
	for i, g := range s.Gates {
		path := fmt.Sprintf("gates[%d]", i)
		if err := s.checkPair(path, g.Treatment, g.Baseline, g.Probe, g.Target, fail); err != nil {
			return err
		}
		if (g.MaxIncrease == nil) == (g.MinIncrease == nil) {
			return fail(path, "give exactly one of max_increase or min_increase")
		}
		for _, v := range []struct {
			name string
			p    *float64
		}{{"max_increase", g.MaxIncrease}, {"min_increase", g.MinIncrease}} {
			if v.p != nil && (*v.p < -1 || *v.p > 1) {
				return fail(path+"."+v.name, "%s is a difference of rates, in [-1, 1]; got %s", v.name, formatFloat(*v.p))
			}
		}
		if g.Alpha != nil && (*g.Alpha <= 0 || *g.Alpha >= 1) {
			return fail(path+".alpha", "alpha must be in (0, 1), got %s", formatFloat(*g.Alpha))
		}
		if g.Test != "" && !slices.Contains(GateTests, g.Test) {
			return fail(path+".test", "unknown test %q (want one of %s)", g.Test, strings.Join(GateTests, ", "))
		}
		if g.Level != "" && g.Level != GateLevelSample && g.Level != GateLevelSeed {
			return fail(path+".level", "unknown level %q (want %s or %s)", g.Level, GateLevelSample, GateLevelSeed)
		}
		if g.Probe == "" && len(s.Probes) > 1 {
			return fail(path+".probe", "the suite has several probes: name the gate's probe")
		}
	}
	if err := s.validateSequential(fail); err != nil {
		return err
	}
	for _, j := range s.Judges {
		path := "judges." + j.Role
		if !namePattern.MatchString(j.Role) {
			return fail(path, "judge name %q: use letters, digits, - and _", j.Role)
		}
		if len(j.Model) != 1 || len(j.Seeds) > 0 || j.Condition != "" || j.Lineage != "" {
			return fail(path, "a judge is one model id, without seeds or condition (nor lineage)")
		}
		if err := checkEndpoint(path, j, fail); err != nil {
			return err
		}
		if err := j.Settings.validate(path, fail); err != nil {
			return err
		}
		if err := s.validateRate(path, j, fail); err != nil {
			return err
		}
	}
	if err := s.validateCost(fail); err != nil {
		return err
	}
	for i, r := range s.References {
		path := fmt.Sprintf("references[%d]", i)
		if r.Builtin != "" {
			if r != (Reference{Builtin: r.Builtin}) {
				return fail(path, "a builtin reference set takes no other fields")
			}
			if _, err := BuiltinReferences(r.Builtin); err != nil {
				return fail(path+".builtin", "%v", err)
			}
			continue
		}
		if r.Label == "" || r.Target == "" || r.Source == "" {
			return fail(path, "a reference needs label, target, rate and source (or builtin: SET)")
		}
		if r.Rate < 0 || r.Rate > 1 {
			return fail(path+".rate", "rate is a fraction in [0, 1], got %s", formatFloat(r.Rate))
		}
		if r.Condition != "" && !slices.Contains(Conditions, r.Condition) {
			return fail(path+".condition", "unknown condition %q (want one of %s)", r.Condition, strings.Join(Conditions, ", "))
		}
		if !slices.Contains([]string{"", "lower", "upper", "approx"}, r.Bound) {
			return fail(path+".bound", "bound is lower, upper or approx, got %q", r.Bound)
		}
		if (r.Low == nil) != (r.High == nil) || (r.Low != nil && (*r.Low > r.Rate || *r.High < r.Rate)) {
			return fail(path, "give both low and high, around rate")
		}
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkEndpoint validates the base URL and API key variable of a model or
// judge.
func checkEndpoint(path string, m *Role, fail func(string, string, ...any) error) error {
	if m.BaseURL != "" {
		u, err := url.Parse(m.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail(path+".base_url", "want an http(s) URL like http://127.0.0.1:8000/v1, got %q", m.BaseURL)
		}
	}
	if m.APIKeyEnv != "" && !envName.MatchString(m.APIKeyEnv) {
		return fail(path+".api_key_env", "%q is not an environment variable name (give the variable's name, never the key)", m.APIKeyEnv)
	}
	return nil
}

func (s *Suite) checkPair(path, treatment, baseline, probe, target string, fail func(string, string, ...any) error) error {
	if treatment == "" || baseline == "" {
		return fail(path, "give both treatment and baseline roles")
	}
	if s.Role(treatment) == nil {
		return fail(path+".treatment", "unknown model role %q", treatment)
	}
	if s.Role(baseline) == nil {
		return fail(path+".baseline", "unknown model role %q", baseline)
	}
	if treatment == baseline {
		return fail(path, "treatment and baseline are the same role %q", treatment)
	}
	if probe != "" {
		p := s.Probe(probe)
		if p == nil {
			return fail(path+".probe", "unknown probe %q", probe)
		}
		for _, r := range []struct{ field, role string }{{"treatment", treatment}, {"baseline", baseline}} {
			if !slices.Contains(s.ProbeRoles(p), r.role) {
				return fail(path+"."+r.field, "probe %q does not sample role %q (see its models list)", probe, r.role)
			}
		}
		if target != "" && !slices.Contains(s.ScoreTargets(p), target) {
			return fail(path+".target", "probe %q has no target %q (have %s)", probe, target, strings.Join(s.ScoreTargets(p), ", "))
		}
	} else if target != "" {
		found := false
		for _, p := range s.Probes {
			found = found || slices.Contains(s.ScoreTargets(p), target)
		}
		if !found {
			return fail(path+".target", "no probe scores target %q", target)
		}
	}
	return nil
}

func (st Settings) validate(path string, fail func(string, string, ...any) error) error {
	if v := st.Temperature; v != nil && (*v < 0 || *v > 2) {
		return fail(path+".temperature", "temperature must be in [0, 2], got %s", formatFloat(*v))
	}
	if v := st.TopP; v != nil && (*v <= 0 || *v > 1) {
		return fail(path+".top_p", "top_p must be in (0, 1], got %s", formatFloat(*v))
	}
	if v := st.MaxTokens; v != nil && *v < 1 {
		return fail(path+".max_tokens", "max_tokens must be at least 1, got %d", *v)
	}
	if v := st.N; v != nil && (*v < 1 || *v > 128) {
		return fail(path+".n", "n (choices per request) must be in [1, 128], got %d", *v)
	}
	if v := st.Concurrency; v != nil && (*v < 1 || *v > 4096) {
		return fail(path+".concurrency", "concurrency must be in [1, 4096], got %d", *v)
	}
	if v := st.MaxConcurrency; v != nil && (*v < 1 || *v > 4096) {
		return fail(path+".max_concurrency", "max_concurrency must be in [1, 4096], got %d", *v)
	}
	if v := st.RequestsPerMinute; v != nil && *v < 0 {
		return fail(path+".requests_per_minute", "must be ≥ 0 (0 means no limit), got %s", formatFloat(*v))
	}
	if v := st.TokensPerMinute; v != nil && *v < 0 {
		return fail(path+".tokens_per_minute", "must be ≥ 0 (0 means no limit), got %s", formatFloat(*v))
	}
	if v := st.Timeout; v != nil && *v <= 0 {
		return fail(path+".timeout", "timeout must be positive, got %s", *v)
	}
	if v := st.MaxRetries; v != nil && (*v < 0 || *v > 50) {
		return fail(path+".max_retries", "max_retries must be in [0, 50], got %d", *v)
	}
	return nil
}
