package bench

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateWindow is one rate limit as a server reported it in an answer's
// headers: how much the limit allows, how much is left, and how long
// until it is whole again.
type RateWindow struct {
	// Limit is the most the window allows (requests or tokens); 0 when
	// the server did not say.
	Limit int64
	// Remaining is what is left when the server answered, ≥ 0.
	Remaining int64
	// Reset is how long until the window is whole again (OpenAI: "the
	// time until the rate limit resets to its initial state"); 0 when the
	// server did not say.
	Reset time.Duration
}

// RefillPerSecond estimates how fast the window refills, in units per
// second, from one answer: what is used up (Limit − Remaining) over the
// time it takes to come back (Reset). It is 0 when the headers do not
// tell (no limit, nothing used, or no reset).
func (w RateWindow) RefillPerSecond() float64 {
	used := w.Limit - w.Remaining
	if w.Limit <= 0 || used <= 0 || w.Reset <= 0 {
		return 0
	}
	return float64(used) / w.Reset.Seconds()
}

// RateLimit is what an answer's headers said about the endpoint's rate
// limits: OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// (also sent by Azure OpenAI, Groq and others). A nil window was not
// reported.
type RateLimit struct {
	Requests *RateWindow
	Tokens   *RateWindow
}

// ParseRateLimit reads the x-ratelimit-* headers of an answer. A window
// is reported when its remaining count is a non-negative integer; its
// limit and reset are read when present and well formed. Reset values are
// Go-style durations as OpenAI sends them ("1s", "6m0s", "17ms",
// "1m30.5s") or plain seconds ("0.5").
func ParseRateLimit(h http.Header) RateLimit {
	return RateLimit{Requests: parseWindow(h, "requests"), Tokens: parseWindow(h, "tokens")}
}

func parseWindow(h http.Header, what string) *RateWindow {
	rem, ok := parseCount(h.Get("X-Ratelimit-Remaining-" + what))
	if !ok {
		return nil
	}
	w := &RateWindow{Remaining: rem}
	if lim, ok := parseCount(h.Get("X-Ratelimit-Limit-" + what)); ok && lim >= rem {
		w.Limit = lim
	}
	w.Reset = parseReset(h.Get("X-Ratelimit-Reset-" + what))
	return w
}

// parseCount parses a non-negative integer header value.
func parseCount(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// maxReset bounds a reported reset: a day, longer than any per-minute or
// per-day window needs. Larger (or malformed) values count as absent.
const maxReset = 24 * time.Hour

// parseReset parses a reset header: a Go duration ("6m0s", "17ms") or
// plain seconds ("2", "0.25"). It returns 0 when absent, malformed,
// negative or longer than maxReset.
func parseReset(s string) time.Duration {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if !(secs > 0) || secs > maxReset.Seconds() {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxReset {
		return 0
	}
	return d
}

// serverRetryAfter reads how long a server asked to wait: retry-after-ms
// (milliseconds, sent by OpenAI and Azure OpenAI; more precise, so it
// wins) or Retry-After (seconds or an HTTP date). 0 when neither says.
func serverRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms <= float64(maxReset/time.Millisecond) && !math.IsInf(ms, 0) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return retryAfter(h.Get("Retry-After"), now)
}
