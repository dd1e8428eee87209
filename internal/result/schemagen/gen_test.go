package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite docs/schema from the Go types")

// TestSchemasUpToDate keeps docs/schema equal to what the Go types
// produce: a field added, renamed or removed in a JSON type fails here
// until the schema is regenerated (go test -update), so every change of
// the contract shows in docs/schema.
func TestSchemasUpToDate(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "..", "docs", "schema")
	for name, want := range files {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./internal/result/schemagen -update writes it)", err)
		}
		if diff := cmp.Diff(string(got), string(want)); diff != "" {
			t.Errorf("%s is not what the Go types give (-file +types); run go test ./internal/result/schemagen -update:\n%s", name, diff)
		}
	}
	published, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range published {
		if _, ok := files[filepath.Base(p)]; !ok {
			t.Errorf("%s: no Go type produces it any more", p)
		}
	}
}
