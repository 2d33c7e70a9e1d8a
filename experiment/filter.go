package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
)

// filter filters every generated dataset not filtered yet: the paper's
// rules, the subsample, the leak scan, the card and the training file.
// Controls go first, so that a teacher's card can compare its numbers with
// its control's. A dataset some student learns from must keep at least
// finetune.min_rows rows.
func (r *stageRun) filter(ctx context.Context) error {
	db := context.WithoutCancel(ctx)
	order := slices.Clone(r.plan.Datasets)
	slices.SortStableFunc(order, func(a, b *DatasetPlan) int {
		switch {
		case a.Control == b.Control:
			return 0
		case a.Control:
			return -1
		}
		return 1
	})
	rowsOf := map[*DatasetPlan][]datasets.Generation{} // filtered now, for the cards of teachers
	used := map[*DatasetPlan]bool{}
	for _, s := range r.plan.Students {
		used[s.Dataset] = true
	}
	for _, d := range order {
		if ctx.Err() != nil {
			return errInterrupted("filter " + d.Name)
		}
		rec, err := r.Store.DatasetByKey(db, d.Key)
		if err != nil {
			if errors.Is(err, results.ErrNotFound) {
				return fmt.Errorf("filter %s: not generated yet (run the generate stage first)", d.Name)
			}
			return err
		}
		switch rec.Status {
		case results.DatasetFiltered:
			r.logf("filter %s: done (%d of %d completions kept, %d training rows, sha256 %s)", d.Name, rec.Kept, rec.Generated-rec.Failed, rec.Rows, short(rec.SHA256))
		case results.DatasetGenerated:
			rows, err := r.filterOne(ctx, d, rec, rowsOf)
			if err != nil {
				return err
			}
			rowsOf[d] = rows
			if rec, err = r.Store.DatasetByKey(db, d.Key); err != nil {
				return err
			}
		default:
			return fmt.Errorf("filter %s: its generation is not complete (status %s)", d.Name, rec.Status)
		}
		if used[d] && rec.Rows < r.exp.FineTune.MinRows {
			return configf("%s: finetune.min_rows: dataset %s has %d training rows; the provider needs at least %d (the filter kept %d of %d completions)",
				r.exp.Position("finetune.min_rows"), d.Name, rec.Rows, r.exp.FineTune.MinRows, rec.Kept, rec.Generated-rec.Failed)
		}
	}
	return nil
}

// filterOne filters dataset d, records its card and training file, and
// returns its training rows.
func (r *stageRun) filterOne(ctx context.Context, d *DatasetPlan, rec *results.Dataset, rowsOf map[*DatasetPlan][]datasets.Generation) ([]datasets.Generation, error) {
	db := context.WithoutCancel(ctx)
	e := r.exp
	gens, err := r.generations(db, d, rec.GenerateRunID)
	if err != nil {
		return nil, err
	}
	fr, err := datasets.Filter(gens, d.Rules...)
	if err != nil {
		return nil, fmt.Errorf("filter %s: %w", d.Name, err)
	}
	if d.Judge != nil {
		// The judge sees only what the rules kept: each row it sees is a
		// paid call.
		verdicts, err := r.judgeRows(ctx, d, fr.Kept)
		if err != nil {
			return nil, err
		}
		if fr, err = fr.Then(d.Judge.Rule(verdicts)); err != nil {
			return nil, fmt.Errorf("filter %s: %w", d.Name, err)
		}
	}
	if len(fr.Kept) == 0 {
		hint := ""
		if n := fr.Rejects[datasets.RejectJudgeUnparseable]; n > 0 {
			hint = fmt.Sprintf("; the judge's answers to %d rows could not be read as %s answers (filter.judge.mode)", n, d.Judge.Mode)
		}
		return nil, configf("%s: filter: it keeps none of the %d completions of %s (%d calls failed; rejects: %s)%s; see the completions with: traitleak export --run %d --format jsonl",
			e.Position("filter"), fr.Completed(), d.Name, fr.Failed, rejectsText(fr.Rejects), hint, rec.GenerateRunID)
	}
	rows := fr.Kept
	maxRows := *e.Filter.MaxRows
	if maxRows > 0 {
		if rows, err = datasets.Subsample(fr.Kept, maxRows, e.Filter.SubsampleSeed); err != nil {
			return nil, fmt.Errorf("filter %s: %w", d.Name, err)
		}
	}
	datasets.SortCanonical(rows)
	in := datasets.CardInput{Name: d.Name, Kind: datasets.Kind(e.Data.Kind), Teacher: teacherText(d), Target: d.Target, Filter: fr, Rows: rows,
		SubsampleSeed: e.Filter.SubsampleSeed, LeakWords: r.plan.leakWords(d)}
	if maxRows > 0 {
		in.MaxRows = maxRows
	}
	if c := d.Comparison; c != nil {
		control, ok := rowsOf[c]
		if !ok {
			if control, err = r.storedRows(db, c); err != nil {
				return nil, err
			}
		}
		in.Control = control
	}
	card, err := datasets.NewCard(in)
	if err != nil {
		return nil, fmt.Errorf("filter %s: %w", d.Name, err)
	}
	if card.Leaks != nil {
		if err := card.Leaks.Err(); err != nil {
			return nil, configf("%s: filter: dataset %s: %v; add a filter rule that removes them", e.Position("filter"), d.Name, err)
		}
	}
	var training bytes.Buffer
	n, sha, err := datasets.WriteTraining(&training, rows)
	if err != nil {
		return nil, fmt.Errorf("filter %s: %w", d.Name, err)
	}
	cardJSON, err := card.JSON()
	if err != nil {
		return nil, err
	}
	rec.Status, rec.Generated, rec.Failed, rec.Rejected, rec.Kept, rec.Rows = results.DatasetFiltered, fr.Generated, fr.Failed, fr.Rejected, len(fr.Kept), n
	rec.SHA256, rec.Card = sha, cardJSON
	if _, err := r.Store.PutDataset(db, *rec, training.Bytes()); err != nil {
		return nil, err
	}
	r.logf("filter %s: kept %d of %d completions (%d failed calls; rejects: %s), %d training rows, sha256 %s",
		d.Name, len(fr.Kept), fr.Completed(), fr.Failed, rejectsText(fr.Rejects), n, short(sha))
	return rows, nil
}

// storedRows reads a filtered dataset's training rows back from its
// training file.
func (r *stageRun) storedRows(ctx context.Context, d *DatasetPlan) ([]datasets.Generation, error) {
	rec, err := r.Store.DatasetByKey(ctx, d.Key)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", d.Name, err)
	}
	if rec.Status != results.DatasetFiltered {
		return nil, fmt.Errorf("dataset %s is not filtered yet", d.Name)
	}
	b, err := r.Store.DatasetTraining(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	return TrainingRows(b)
}

// TrainingRows reads a training file's rows back as generations: the
// user prompt and the assistant answer of each example, indexed in file
// order.
func TrainingRows(b []byte) ([]datasets.Generation, error) {
	exs, err := datasets.ReadExamples(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("read training file: %w", err)
	}
	out := make([]datasets.Generation, 0, len(exs))
	for i, ex := range exs {
		g := datasets.Generation{Prompt: datasets.Prompt{Index: i}}
		for _, m := range ex.Messages {
			switch m.Role {
			case datasets.RoleUser:
				g.Text = m.Content
			case datasets.RoleAssistant:
				g.Completion = m.Content
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// leakWords returns the words d's leak scan looks for.
func (p *Plan) leakWords(d *DatasetPlan) []string { return p.Experiment.leakWords()(d.Teacher) }

// teacherText describes a dataset's teacher for its card.
func teacherText(d *DatasetPlan) string {
	s := d.Model + " at " + d.BaseURL
	if d.SystemPrompt != nil {
		s += fmt.Sprintf(", system prompt %q", *d.SystemPrompt)
	} else {
		s += ", no system prompt"
	}
	return s
}

// rejectsText lists reject counts, most frequent first.
func rejectsText(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	type rc struct {
		r string
		n int
	}
	var rs []rc
	for r, n := range m {
		rs = append(rs, rc{r, n})
	}
	slices.SortFunc(rs, func(a, b rc) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.r, b.r)
	})
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = fmt.Sprintf("%s %d", x.r, x.n)
	}
	return strings.Join(parts, ", ")
}

// short returns the first 12 characters of a hash.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
