package bench

import (
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces a secret in redacted text.
const Redacted = "[REDACTED]"

// minSecret is the shortest API key that is redacted: a shorter one is no
// secret, and replacing it would garble ordinary text.
const minSecret = 4

// RedactURL returns u without its userinfo (user:password@), which may
// hold a credential. It returns u unchanged when u has no userinfo or
// does not parse.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = nil
	return p.String()
}

// Redactor removes secrets from text that is stored or printed: API keys,
// and the userinfo of base URLs. The zero value and nil redact nothing.
// It is safe for concurrent use.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor returns a Redactor for the given API keys (keys shorter than
// 4 bytes are ignored) and base URLs. A base URL with userinfo is replaced
// by the URL without it, wherever it appears; its password, or its user
// name when it has no password (http://KEY@host), by Redacted, also in
// percent-encoded form.
func NewRedactor(keys, baseURLs []string) *Redactor {
	repl := map[string]string{}
	secret := func(s string) {
		if len(s) >= minSecret {
			repl[s] = Redacted
			if esc := url.QueryEscape(s); esc != s {
				repl[esc] = Redacted
			}
			if esc := url.PathEscape(s); esc != s {
				repl[esc] = Redacted
			}
		}
	}
	for _, k := range keys {
		secret(k)
	}
	for _, u := range baseURLs {
		p, err := url.Parse(u)
		if err != nil || p.User == nil {
			continue
		}
		repl[u] = RedactURL(u)
		if pw, ok := p.User.Password(); ok {
			// net/http names the URL in its errors with the password
			// masked: user:***@host.
			masked := *p
			masked.User = url.UserPassword(p.User.Username(), "***")
			repl[strings.Replace(masked.String(), "%2A%2A%2A", "***", 1)] = RedactURL(u)
			secret(pw)
			secret(p.User.String()) // user:password as written
		} else {
			secret(p.User.Username())
			secret(p.User.String())
		}
	}
	if len(repl) == 0 {
		return nil
	}
	// At each position the Replacer tries the old strings in argument
	// order: longest first, so that a whole URL wins over its password.
	olds := make([]string, 0, len(repl))
	for o := range repl {
		olds = append(olds, o)
	}
	slices.SortFunc(olds, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		pairs = append(pairs, o, repl[o])
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// URL returns a base URL as it may be stored: without userinfo, and with
// any secret in the rest replaced.
func (r *Redactor) URL(u string) string {
	return r.String(RedactURL(u))
}

// redactJSON returns the JSON document doc with secrets redacted from its
// decoded strings, or "" when it holds none (or is not JSON). It catches
// secrets that JSON escaping hides from String (an & in a password is
// written \u0026).
func redactJSON(doc string, r *Redactor) string {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return ""
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			if red := r.String(t); red != t {
				changed = true
				return red
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k, e := range t {
				t[k] = walk(e)
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
