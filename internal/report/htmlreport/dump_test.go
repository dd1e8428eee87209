package htmlreport

import (
	"os"
	"testing"
)

func TestDumpPage(t *testing.T) {
	out := os.Getenv("MS_HTML_OUT")
	if out == "" {
		t.Skip("MS_HTML_OUT not set")
	}
	if err := os.WriteFile(out, writeReport(t, testdata("policer", "policer.cli.pcap")), 0o644); err != nil {
		t.Fatal(err)
	}
}
