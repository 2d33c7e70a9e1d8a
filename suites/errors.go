package suites

import "fmt"

// Pos is a position in a suite file. Line and Col count from 1; zero means
// unknown. For a value that came from a --set override, File is
// "--set KEY=VALUE" and Line is 0.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col.
func (p Pos) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	case p.File != "":
		return p.File
	default:
		return "suite"
	}
}

// SuiteError is an error in a suite file or override, located at Pos. Field
// is the dotted path of the offending field, e.g. "probes[0].samples".
type SuiteError struct {
	Pos   Pos
	Field string
	Msg   string
}

// Error formats the error as "file:line:col: field: msg".
func (e *SuiteError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Pos, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}
