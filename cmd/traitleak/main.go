// Command traitleak measures trait leakage between language models.
//
// See doc.go for a worked example. Exit codes are listed in exitCodesHelp.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/traitleak/traitleak/bench"
)

// Exit codes shared by every subcommand.
const (
	exitOK          = 0   // success
	exitGateFailed  = 1   // a gate failed, like a failing test
	exitUsage       = 2   // usage, suite or configuration error
	exitIncomplete  = 3   // the run or analysis could not complete
	exitInterrupted = 130 // interrupted by SIGINT or SIGTERM
)

const exitCodesHelp = `EXIT STATUS
  0    ok
  1    a gate failed
  2    usage, suite or configuration error
  3    the run or analysis could not complete (endpoint down, too many
       failed samples, database error)
  130  interrupted`

// usageError marks an error caused by bad flags, arguments or suite files.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitError carries an explicit exit code with an optional message.
type exitError struct {
	code int
	err  error // may be nil: nothing more to print
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second signal after the first cancels nothing more: restore default
	// handling so it kills the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(code)
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	return exitCode(ctx, err, stderr)
}

// exitCode prints err (if any) and maps it to an exit code. Usage errors,
// cobra's own usage errors and configuration errors of a run
// (bench.ErrConfig, e.g. an unset API key variable) exit 2.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "traitleak: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "traitleak: %v\n", err)
	var ue *usageError
	switch {
	case errors.As(err, &ue), isCobraUsage(err), errors.Is(err, bench.ErrConfig):
		return exitUsage
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return exitInterrupted
	default:
		return exitIncomplete
	}
}

// isCobraUsage recognizes cobra's own usage errors (unknown command,
// missing subcommand), which it returns as plain errors; flag errors reach
// the FlagErrorFunc and are usageErrors already.
func isCobraUsage(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}
