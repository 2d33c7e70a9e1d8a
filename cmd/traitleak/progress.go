package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/traitleak/traitleak/bench"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// checkExec validates the flags that run, rescore and demo share:
// --max-error-rate, --grace, --progress and --progress-interval.
func (o *runOptions) checkExec() error {
	// Written so that NaN fails too: every comparison with NaN is false,
	// and a NaN bound let a run of failed samples pass as complete.
	if !(o.maxErrorRate >= 0 && o.maxErrorRate <= 1) {
		return usagef("--max-error-rate %g: want a fraction in [0, 1]", o.maxErrorRate)
	}
	// The engine reads a grace of 0 or less as its 30 s default, so a
	// negative (or zero) grace would silently mean 30 s.
	if o.grace <= 0 {
		return usagef("--grace %s: want a positive duration, e.g. 30s", o.grace)
	}
	return checkProgress(o.progress, o.interval)
}

// checkProgress validates the --progress and --progress-interval flags.
func checkProgress(mode string, interval time.Duration) error {
	switch mode {
	case "auto", "bar", "lines", "none":
	default:
		return usagef("--progress %q: want auto, bar, lines or none", mode)
	}
	if interval <= 0 {
		return usagef("--progress-interval %s: want a positive duration, e.g. 10s", interval)
	}
	return nil
}

// startProgress shows p until the returned stop function is called: a bar
// on a terminal, a plain line every interval otherwise. mode is auto, bar,
// lines or none, checked by checkProgress.
func startProgress(ctx context.Context, mode string, interval time.Duration, p *bench.Progress, w io.Writer) (stop func()) {
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			mode = "bar"
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	switch mode {
	case "bar":
		pb := mpb.NewWithContext(context.WithoutCancel(ctx), mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
		bar := pb.New(0, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name("sampling "), decor.CountersNoUnit("%d / %d")),
			mpb.AppendDecorators(
				decor.Any(func(decor.Statistics) string { return rateText(p, start) }),
				decor.Name(" ETA "), decor.Any(func(decor.Statistics) string { return etaText(p, start) }),
				decor.Any(func(decor.Statistics) string { return fmt.Sprintf(" errors %d", p.Failed.Load()) }),
				decor.Any(func(decor.Statistics) string { return scoringText(p) }),
			))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				bar.SetTotal(p.Total.Load(), false)
				bar.SetCurrent(p.Done.Load())
				select {
				case <-done:
					bar.SetTotal(p.Total.Load(), false)
					bar.SetCurrent(p.Done.Load())
					bar.Abort(false)
					pb.Wait()
					return
				case <-t.C:
				}
			}
		}()
	case "lines":
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fmt.Fprintf(w, "progress: %d / %d draws, %s, ETA %s, errors %d%s\n",
						p.Done.Load(), p.Total.Load(), rateText(p, start), etaText(p, start), p.Failed.Load(), scoringText(p))
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

func rateText(p *bench.Progress, start time.Time) string {
	secs := time.Since(start).Seconds()
	if secs <= 0 {
		return "0 samples/s"
	}
	return fmt.Sprintf("%.0f samples/s", float64(p.Done.Load())/secs)
}

func etaText(p *bench.Progress, start time.Time) string {
	done, total := p.Done.Load(), p.Total.Load()
	if done == 0 || total <= done {
		return "–"
	}
	el := time.Since(start)
	return (time.Duration(float64(el) * float64(total-done) / float64(done))).Round(time.Second).String()
}

// scoringText reports the scoring phase (LLM judges), when there is one.
func scoringText(p *bench.Progress) string {
	if n := p.ToScore.Load(); n > 0 {
		return fmt.Sprintf("; judged %d / %d samples", p.Scored.Load(), n)
	}
	return ""
}
