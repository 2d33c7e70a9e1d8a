package experiment

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/traitleak/traitleak/bench"
)

// configError is an error in what the experiment asks for (a filter that
// keeps nothing, a dataset below the provider's minimum, a base model the
// provider refuses): errors.Is(err, bench.ErrConfig) holds, so the
// command exits 2, and the message is the error's own.
type configError struct{ err error }

func (e *configError) Error() string   { return e.err.Error() }
func (e *configError) Unwrap() []error { return []error{e.err, bench.ErrConfig} }

// configf returns a configError with a formatted message.
func configf(format string, args ...any) error {
	return &configError{fmt.Errorf(format, args...)}
}

// asConfig marks err as a configError when the provider refused the
// request itself (HTTP 400, 401, 403, 404, 422: a bad model, file or key),
// which retrying cannot fix; other errors are returned as they are.
func asConfig(err error) error {
	var api *bench.APIError
	if errors.As(err, &api) {
		switch api.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity:
			return &configError{err}
		}
	}
	return err
}
