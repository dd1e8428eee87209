package result_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayering keeps the result model between producers and renderers:
// the engine and listener write result values without importing any
// renderer, and renderers read them without importing the engine.
func TestLayering(t *testing.T) {
	const mod = "github.com/mirrorscope/mirrorscope/"
	forbidden := []struct {
		dir    string // package directory, relative to the module root
		prefix string // import path prefix it must not use
	}{
		{"internal/engine", mod + "internal/report"},
		{"internal/diagnose", mod + "internal/report"},
		{"internal/report", mod + "internal/engine"},
		{"internal/report/htmlreport", mod + "internal/engine"},
		{"internal/report/annotate", mod + "internal/engine"},
		{"internal/result", mod + "internal/engine"},
		{"internal/result", mod + "internal/report"},
	}
	for _, f := range forbidden {
		dir := filepath.Join("..", "..", f.dir)
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", f.dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, f.prefix) {
					t.Errorf("%s imports %s: producers and renderers meet only in internal/result", file, p)
				}
			}
		}
	}
}
