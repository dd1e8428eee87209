package accuracy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// README.md quotes the last held-out set evaluated (or the last two,
// evaluated with one build): their figures must be the ones
// docs/accuracy.md (generated from the committed results) reports for
// them.
func TestReadmeQuotesAccuracy(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/accuracy.md")
	if err != nil {
		t.Fatal(err)
	}
	// the README wraps lines: compare with single spaces
	text := strings.Join(strings.Fields(string(readme)), " ")
	m := regexp.MustCompile("on the last (?:one|two) evaluated, `(\\w+)`(?: and `(\\w+)`)?").FindStringSubmatch(text)
	if m == nil {
		t.Fatal("README.md does not name the last held-out set evaluated")
	}
	i := strings.Index(text, m[0])
	quote := text[i:min(len(text), i+900)]
	for _, set := range m[1:] {
		if set == "" {
			continue
		}
		for _, vis := range []string{"both", "data_only", "acks_only"} {
			row := regexp.MustCompile(`(?m)^\| ` + set + ` \| ` + vis + ` \| \d+ \| \d+ \| ([\d.]+)% \| \d+ \(([\d.]+)%\)`).FindStringSubmatch(string(doc))
			if row == nil {
				t.Fatalf("docs/accuracy.md has no %s %s row", set, vis)
			}
			if !strings.Contains(quote, row[1]+" %") {
				t.Errorf("README.md's %s figures do not quote %s right with %s (docs/accuracy.md): %q", set, row[1], vis, quote)
			}
			if vis != "both" && !strings.Contains(quote, row[2]+" %") {
				t.Errorf("README.md's %s figures do not quote %s %% insufficient_data with %s (docs/accuracy.md)", set, row[2], vis)
			}
		}
	}
}
