package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("%w: dial tcp: connection refused", ErrConnection)
	timeout := fmt.Errorf("%w: context deadline exceeded", ErrTimeout)
	answer := &APIError{Status: 503}
	type step struct {
		after time.Duration // since the previous request
		err   error
	}
	for _, tc := range []struct {
		name  string
		steps []step
		open  bool
	}{
		// Failures = 3: the third refusal in a row opens it.
		{"three refusals", []step{{0, refused}, {0, refused}, {0, timeout}}, true},
		// Any answer, even an HTTP error, proves the endpoint is up.
		{"an answer ends the streak", []step{{0, refused}, {0, refused}, {0, answer}, {0, refused}, {0, refused}}, false},
		{"a success ends the streak", []step{{0, refused}, {0, refused}, {0, nil}, {0, refused}, {0, refused}}, false},
		// Window = 10s: two failures 10 s apart, nothing in between.
		{"failures for the window", []step{{0, refused}, {10 * time.Second, refused}}, true},
		{"just inside the window", []step{{0, refused}, {10*time.Second - time.Millisecond, refused}}, false},
		// Other errors are not about the connection.
		{"malformed replies", []step{{0, ErrMalformed}, {0, ErrMalformed}, {0, ErrMalformed}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			b := newBreaker("http://h/v1/", BreakerPolicy{Failures: 3, Window: 10 * time.Second}, nil)
			b.now = func() time.Time { return now }
			i := 0
			c := b.wrap(ClientFunc(func(context.Context, Request) (*Response, error) {
				i++
				if i > len(tc.steps) {
					return &Response{}, nil // the request after the steps
				}
				err := tc.steps[i-1].err
				if err != nil {
					return nil, err
				}
				return &Response{}, nil
			}))
			var last error
			for _, s := range tc.steps {
				now = now.Add(s.after)
				_, last = c.Complete(context.Background(), Request{})
			}
			// Once open, requests fail without being sent.
			_, err := c.Complete(context.Background(), Request{})
			var open *CircuitOpenError
			if got := errors.As(err, &open); got != tc.open {
				t.Fatalf("after %d requests (last error %v): open = %v; want %v", len(tc.steps), last, got, tc.open)
			}
			if tc.open && (i != len(tc.steps) || !errors.Is(err, ErrEndpointDown) || open.Endpoint != "http://h/v1") {
				t.Errorf("open circuit: %d requests sent, error %v; want %d sent and ErrEndpointDown naming http://h/v1", i, err, len(tc.steps))
			}
		})
	}
	if newBreaker("http://h", BreakerPolicy{Failures: -1}, nil) != nil {
		t.Error("Failures < 0 must turn the breaker off")
	}
}
