package reports

import (
	"slices"
	"strings"
)

// Kinds of statistic whose caveats become an analysis's notes.
const (
	noteWilson   = "Wilson interval"
	noteCluster  = "Cluster-robust interval"
	noteSeedMean = "Mean of seeds"
	noteDiff     = "Newcombe interval and Fisher test"
	notePaired   = "Paired test"
	noteSeeds    = "Seeds test"
)

// caveat is one note of an analysis: a warning of one kind of statistic
// and the subjects (roles, seeds or comparisons) it concerns, grouped by
// probe target.
type caveat struct {
	kind, warning string
	targets       []string            // "probe/target", in order of first appearance
	keys          [][2]string         // {probe, target}, parallel to targets
	subjects      map[string][]string // by target, in order of first appearance
}

// caveat records the warnings of a statistic of kind on subject at one
// probe target. A warning already recorded for that kind gains the
// subject, so that the notes hold each kind and text once.
func (a *Analysis) caveat(kind, probe, target, subject string, warnings []string) {
	pt := probe + "/" + target
	for _, w := range warnings {
		key := kind + "\x00" + w
		c := a.caveatOf[key]
		if c == nil {
			if a.caveatOf == nil {
				a.caveatOf = map[string]*caveat{}
			}
			c = &caveat{kind: kind, warning: w, subjects: map[string][]string{}}
			a.caveatOf[key] = c
			a.caveats = append(a.caveats, c)
		}
		subs, ok := c.subjects[pt]
		if !ok {
			c.targets = append(c.targets, pt)
			c.keys = append(c.keys, [2]string{probe, target})
		}
		if !slices.Contains(subs, subject) {
			c.subjects[pt] = append(subs, subject)
		}
	}
}

// notes writes the recorded caveats, each prefixed with what it
// concerns: "Paired test (p/owl student vs control; p/dog student vs
// control): G=2 prompts: …".
func (a *Analysis) notes() []string {
	var out []string
	for _, c := range a.caveats {
		groups := make([]string, len(c.targets))
		for i, pt := range c.targets {
			groups[i] = pt + " " + strings.Join(c.subjects[pt], ", ")
		}
		out = append(out, c.kind+" ("+strings.Join(groups, "; ")+"): "+c.warning)
	}
	return out
}

// noteTargets hangs each note under the targets it concerns (their Notes
// hold its position in a.Notes, which notes wrote).
func (a *analyzer) noteTargets() {
	for i, c := range a.caveats {
		for _, k := range c.keys {
			if t := a.target[k]; t != nil {
				t.Notes = append(t.Notes, i)
			}
		}
	}
}
