package report

import (
	"strings"
	"testing"
)

func TestFormatters(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Count(0), "0"},
		{Count(999), "999"},
		{Count(1000), "1,000"},
		{Count(1234567), "1,234,567"},
		{Bytes(999), "999 B"},
		{Bytes(1500), "1.5 kB"},
		{Bytes(2_500_000), "2.50 MB"},
		{Bytes(3_000_000_000), "3.00 GB"},
		{Rate(500), "500 bit/s"},
		{Rate(19_130_000), "19.13 Mbit/s"},
		{Rate(4.5e9), "4.50 Gbit/s"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestWrapFits80Columns(t *testing.T) {
	long := strings.Repeat("policed at 13.1 Mbit/s, burst ~48 KB ", 6)
	out := wrap(long, 68, "           ")
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 79 {
			t.Errorf("line of %d runes: %q", n, line)
		}
	}
	if strings.Join(strings.Fields(out), " ") != strings.TrimSpace(long) {
		t.Errorf("wrap lost words")
	}
}

func TestWriteTextNoColorWhenAsked(t *testing.T) {
	r := &Report{Findings: []Finding{{Severity: "warning", Kind: "x", Summary: "something"}}}
	var b strings.Builder
	if err := WriteText(&b, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\033[") {
		t.Errorf("colour codes without Color: %q", b.String())
	}
	b.Reset()
	WriteText(&b, r, TextOptions{Color: true})
	if !strings.Contains(b.String(), "\033[") {
		t.Errorf("no colour codes with Color")
	}
}
