// Package schematest validates mirrorscope's JSON output against the
// published schemas in docs/schema, for the tests of every package that
// writes JSON (analyze's report, listen's lines and API, fleet records).
// It is the one validator: tests call Validate or ValidateLines with the
// schema's name ("report", "listen-line", ...), never a copy of their own.
package schematest
