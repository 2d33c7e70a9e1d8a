package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/experiment"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// The built-in lab of an experiment. An experiment whose base URLs name
// labHost runs against the lab over HTTP, like the demo: the lab is built
// for the experiment's seeds (or loaded from its cache) and served on a
// free loopback port, and every connection to labHost is dialled there.
// The URLs, and so the sample keys and lineage records, stay the same from
// run to run. The lab starts when a request first needs it, so a re-run
// of a finished experiment neither builds nor serves it.

// expLab serves the built-in lab for one command, on demand. Its zero
// value (no lab) hands out the default clients.
type expLab struct {
	cfg    *lab.Config // nil: the experiment does not use the lab
	ctx    context.Context
	log    io.Writer
	dialer net.Dialer

	once sync.Once
	addr string
	err  error
	zoo  *lab.Zoo
	srv  *lab.Server
}

// experimentLab returns the lab of e: a lab configured from e.Lab and
// e's seeds when one of e's endpoints (teachers, fine-tuning, evaluation
// suite, filter judge) names labHost, else none. Its build is logged to log.
func experimentLab(ctx context.Context, e *experiment.Experiment, cacheDir string, log io.Writer) (*expLab, error) {
	l := &expLab{ctx: context.WithoutCancel(ctx), log: log, dialer: net.Dialer{Timeout: 5 * time.Second}}
	if !usesLab(e) {
		return l, nil
	}
	cfg := lab.Config{Mode: lab.Hard, CacheDir: cacheDir, Log: log}
	if e.Lab != nil {
		cfg.Target, cfg.ControlTarget = e.Lab.Target, e.Lab.ControlTarget
		if e.Lab.Mode != "" {
			cfg.Mode = lab.Mode(e.Lab.Mode)
		}
	}
	for _, s := range e.SeedLabels() {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, usagef("experiment %s uses the built-in lab (%s), which builds its models per seed: seed %q is not an integer", e.Name, labHost, s)
		}
		cfg.Seeds = append(cfg.Seeds, n)
	}
	if err := cfg.Validate(); err != nil {
		return nil, usagef("experiment %s: the built-in lab: %v", e.Name, err)
	}
	l.cfg = &cfg
	return l, nil
}

// usesLab reports whether an endpoint of e names labHost.
func usesLab(e *experiment.Experiment) bool {
	var urls []string
	for _, name := range append(e.TeacherNames(), e.ControlNames()...) {
		t := e.Teachers[name]
		if t == nil {
			t = e.Controls[name]
		}
		urls = append(urls, strings.ReplaceAll(t.BaseURL, "{seed}", "1"))
	}
	urls = append(urls, e.FineTune.BaseURL)
	if j := e.Filter.Judge; j != nil {
		urls = append(urls, j.BaseURL)
	}
	if e.Evaluate.Suite != "" {
		if s, err := e.EvaluationSuite(); err == nil {
			for _, m := range s.Models {
				urls = append(urls, m.BaseURL)
			}
		}
	}
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil && p.Hostname() == labHost {
			return true
		}
	}
	return false
}

// start builds and serves the lab once; later calls return its address.
func (l *expLab) start() (string, error) {
	l.once.Do(func() {
		start := time.Now()
		zoo, err := lab.Build(l.ctx, *l.cfg)
		if err != nil {
			l.err = fmt.Errorf("build the lab: %w", err)
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			zoo.Close()
			l.err = fmt.Errorf("serve the lab: %w", err)
			return
		}
		srv, err := zoo.NewServer(lab.ServerLimits{})
		if err != nil {
			ln.Close()
			zoo.Close()
			l.err = fmt.Errorf("serve the lab: %w", err)
			return
		}
		go srv.Serve(ln)
		l.zoo, l.srv, l.addr = zoo, srv, ln.Addr().String()
		loaded, trained := zoo.Diagnostics().Loaded()
		fmt.Fprintf(l.log, "lab: %d models (%d stages trained, %d loaded from the cache) in %s, serving %s on %s\n",
			len(zoo.ModelNames()), trained, loaded, time.Since(start).Round(time.Millisecond), labHost, l.addr)
	})
	return l.addr, l.err
}

// dial connects to hostport, starting the lab for labHost.
func (l *expLab) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	if host, _, _ := net.SplitHostPort(hostport); host == labHost && l.cfg != nil {
		addr, err := l.start()
		if err != nil {
			return nil, err
		}
		hostport = addr
	}
	return l.dialer.DialContext(ctx, network, hostport)
}

// ClientFactory returns the chat clients' factory: nil (the engine's
// default) without a lab.
func (l *expLab) ClientFactory() bench.ClientFactory {
	if l.cfg == nil {
		return nil
	}
	return func(in suites.Instance, key string, _ *http.Client) bench.Client {
		tr := bench.NewTransport(256)
		tr.DialContext = l.dial
		return bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: &http.Client{Transport: tr}, Timeout: *in.Settings.Timeout})
	}
}

// HTTPClient returns the fine-tuning client: nil (the default) without a
// lab.
func (l *expLab) HTTPClient() *http.Client {
	if l.cfg == nil {
		return nil
	}
	tr := bench.NewTransport(16)
	tr.DialContext = l.dial
	return &http.Client{Transport: tr}
}

// Close stops the lab's server and its fine-tuning jobs, if it started.
func (l *expLab) Close() {
	if l.srv != nil {
		l.srv.Close()
		l.zoo.Close()
	}
}
