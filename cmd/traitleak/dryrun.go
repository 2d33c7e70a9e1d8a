package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"text/tabwriter"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/suites"
)

// applyMaxCost sets the suite's max_cost from --max-cost when given, and
// checks that every model and judge then has a price: a usage error (exit
// 2) naming the model's position when one has none.
func (o *runOptions) applyMaxCost(s *suites.Suite) error {
	if !o.maxCostSet {
		return nil
	}
	if !(o.maxCost > 0) || math.IsInf(o.maxCost, 0) {
		return usagef("--max-cost %g: want the most the run may spend, in US dollars, > 0", o.maxCost)
	}
	v := o.maxCost
	s.MaxCost = &v
	if err := s.CheckPrices(); err != nil {
		return &usageError{fmt.Errorf("--max-cost: %w", err)}
	}
	return nil
}

// dryRun prints what running s into the database at o.db would send and
// cost, and sends nothing: the database is read (read-only) when it
// exists, to leave out the draws already stored, and never written.
func dryRun(ctx context.Context, o *runOptions, s *suites.Suite, stdout io.Writer) error {
	if o.gate {
		return usagef("--dry-run sends nothing, so there are no results for --gate or --junit to judge")
	}
	var store bench.EstimateStore
	if _, err := os.Stat(o.db); err == nil {
		st, err := openDB(ctx, o.db, false)
		if err != nil {
			return err
		}
		defer st.Close()
		store = st
	} else if !errors.Is(err, fs.ErrNotExist) {
		return usagef("--db %s: %v", o.db, err)
	}
	e, err := bench.EstimateRun(ctx, store, s, o.fresh)
	if err != nil {
		return err
	}
	if o.scale.batch {
		e.BatchAll()
	}
	return printEstimate(stdout, s, e)
}

// printEstimate writes an estimate as two tables, models and judges, and
// a total.
func printEstimate(w io.Writer, s *suites.Suite, e *bench.Estimate) error {
	fmt.Fprintf(w, "dry run of suite %s (%s): nothing is sent, nothing is written\n", s.Name, s.Source)
	fmt.Fprintf(w, "%d draws planned, %d already stored, %d to draw\n\n", e.Planned, e.Stored, e.Planned-e.Stored)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(kind string, r bench.EstimateRow) {
		cost, batch, price := "no price", "–", "–"
		if r.Price != nil {
			cost, batch = fmt.Sprintf("$%.4f", r.Cost), fmt.Sprintf("$%.4f", r.BatchCost)
			price = fmt.Sprintf("$%g / $%g", r.Price.Input, r.Price.Output)
		}
		if r.Batched {
			batch += " (batched)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", kind, r.Name, r.Model, r.Draws, r.Requests, r.PromptTokens, r.CompletionTokens, price, cost, batch)
	}
	fmt.Fprintln(tw, "\tname\tmodel id\tdraws\trequests\tprompt tokens\tcompletion tokens\tprice in / out per 1M\tcost\twith batch discount\t")
	for _, r := range e.Models {
		row("model", r)
	}
	for _, r := range e.Judges {
		row("judge", r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	cost, batch, all := e.Total()
	fmt.Fprintln(w)
	switch {
	case all && e.AnyBatched():
		fmt.Fprintf(w, "estimated cost: $%.4f, the batched models and judges at the batch price ($%.4f with batch discounts for all)\n", cost, batch)
	case all:
		fmt.Fprintf(w, "estimated cost: $%.4f ($%.4f with batch discounts)\n", cost, batch)
	default:
		fmt.Fprintf(w, "estimated cost of the priced models: $%.4f; give the others a price (price: {input: …, output: …}, US dollars per 1M tokens) to include them\n", cost)
	}
	if e.MaxCost != nil {
		fmt.Fprintf(w, "max_cost: $%.2f", *e.MaxCost)
		if all && cost > *e.MaxCost {
			fmt.Fprint(w, " (the estimate is above it: the run would stop there, resumable with a larger max_cost)")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "how: prompt tokens ≈ bytes of text sent / 4 + 1; completion tokens = max_tokens per choice (%d when unset), an upper bound;\n", bench.DefaultMaxTokensEstimate)
	fmt.Fprintln(w, "  one request per job of up to n draws (a server that ignores n takes one per draw); judges: two calls per draw judged")
	fmt.Fprintln(w, "  (identical answers are judged once, so at most), each the template with the prompt and an answer of max_tokens;")
	fmt.Fprintf(w, "  prices from the suite, else the %s\n", suites.BuiltinPricesSource)
	return nil
}
