// Package suites defines the suite file schema, loads and validates suite
// files (errors carry file:line:col), and embeds the built-in suites and the
// paper's prompt lists. It is the first stage of the data flow
// suite → plan → providers → samples → store → stats → report; planning and
// sampling are left to package bench.
package suites
