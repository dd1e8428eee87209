package schematest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	mu       sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Dir returns the docs/schema directory of the module the test runs in
// (found by walking up from the working directory to go.mod).
func Dir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "docs", "schema"), nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("schematest: no go.mod above the working directory")
		}
		d = up
	}
}

// Schema returns the compiled schema docs/schema/NAME.schema.json.
func Schema(name string) (*jsonschema.Schema, error) {
	mu.Lock()
	defer mu.Unlock()
	if s := compiled[name]; s != nil {
		return s, nil
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".schema.json")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schematest: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("schematest: %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		return nil, fmt.Errorf("schematest: %s: %w", path, err)
	}
	s, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("schematest: %s: %w", path, err)
	}
	compiled[name] = s
	return s, nil
}

// Check validates one JSON document against the schema name.
func Check(name string, doc []byte) error {
	s, err := Schema(name)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// Validate fails t when doc does not follow the schema name; what names
// the document in the message.
func Validate(t testing.TB, name, what string, doc []byte) {
	t.Helper()
	if err := Check(name, doc); err != nil {
		t.Errorf("%s does not follow docs/schema/%s.schema.json: %v", what, name, err)
	}
}

// ValidateLines validates every non-empty line of out as one document
// and returns the number of lines checked.
func ValidateLines(t testing.TB, name, what string, out []byte) int {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<26)
	n := 0
	for i := 1; sc.Scan(); i++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		n++
		if err := Check(name, sc.Bytes()); err != nil {
			t.Errorf("%s line %d does not follow docs/schema/%s.schema.json: %v", what, i, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Errorf("%s: %v", what, err)
	}
	return n
}
