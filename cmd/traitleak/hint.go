package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/suites"
)

// commandWords rebuilds the command line of cmd, unquoted, from its
// arguments and the flags the user set, to print as a resume or retry
// hint. --fresh is left out: resuming continues the fresh run rather than
// starting another.
func commandWords(cmd *cobra.Command, args []string) []string {
	words := []string{cmd.CommandPath()}
	words = append(words, args...)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "fresh" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				words = append(words, "--"+f.Name, v)
			}
			return
		}
		if f.Value.Type() == "bool" {
			words = append(words, "--"+f.Name)
			return
		}
		words = append(words, "--"+f.Name, f.Value.String())
	})
	return words
}

// commandLine is commandWords quoted for a POSIX shell. The command path
// is written as is.
func commandLine(cmd *cobra.Command, args []string) string {
	return quoteWords(commandWords(cmd, args))
}

func quoteWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = w
		if i > 0 {
			out[i] = shellQuote(w)
		}
	}
	return strings.Join(out, " ")
}

// redactedNote follows a hint with credentials replaced.
const redactedNote = "  (credentials are not printed: put yours back where " + bench.Redacted + " stands, or the command samples other draws)"

// resumeHint returns words as a shell command line with the credentials
// of suite s redacted (see hintRedactor and redactWord): a base_url given
// with --set may hold a password, a variable an API key. The hint is
// printed, and a printed secret ends up in CI logs and terminals'
// scrollback.
func resumeHint(words []string, s *suites.Suite, getenv func(string) string) string {
	r := hintRedactor(s, getenv)
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = redactWord(w, r)
	}
	return quoteWords(out)
}

// hintRedactor returns a Redactor of the secrets of suite s: the password
// (or, without one, the user name) in the userinfo of every model's and
// judge's base URL, and the API keys they read with getenv.
func hintRedactor(s *suites.Suite, getenv func(string) string) *bench.Redactor {
	var secrets []string
	add := func(in suites.Instance) {
		if i := strings.Index(in.BaseURL, "://"); i >= 0 {
			if info, _, ok := userinfo(in.BaseURL[i+3:]); ok {
				if _, pw, ok := strings.Cut(info, ":"); ok {
					secrets = append(secrets, pw)
				} else {
					secrets = append(secrets, info)
				}
			}
		}
		if in.APIKeyEnv != "" && getenv != nil {
			if k := getenv(in.APIKeyEnv); k != "" {
				secrets = append(secrets, k)
			}
		}
	}
	for _, in := range s.Instances() {
		add(in)
	}
	for _, name := range s.JudgeNames() {
		if in, ok := s.JudgeInstance(name); ok {
			add(in)
		}
	}
	return bench.NewRedactor(secrets, nil)
}

// redactWord returns word with the userinfo of every URL in it redacted
// (the password, or the whole userinfo when it has no password, whatever
// its length) and every secret of r replaced.
func redactWord(word string, r *bench.Redactor) string {
	var b strings.Builder
	rest := word
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		info, after, ok := userinfo(rest)
		if !ok {
			continue
		}
		if user, _, hasPW := strings.Cut(info, ":"); hasPW {
			b.WriteString(user + ":" + bench.Redacted + "@")
		} else {
			b.WriteString(bench.Redacted + "@")
		}
		rest = after
	}
	b.WriteString(rest)
	return r.String(b.String())
}

// userinfo splits what follows a URL's "://" into its userinfo and the
// rest after the "@", when the authority (up to the first /, ? or #) has
// one.
func userinfo(s string) (info, rest string, ok bool) {
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	at := strings.LastIndex(s[:end], "@")
	if at < 0 {
		return "", s, false
	}
	return s[:at], s[at+1:], true
}

// printRedactedNote explains a hint whose credentials were replaced.
func printRedactedNote(w io.Writer, hint string) {
	if strings.Contains(hint, bench.Redacted) {
		fmt.Fprintln(w, redactedNote)
	}
}
