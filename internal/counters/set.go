package counters

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Format names what a counter file held.
type Format string

// Formats Parse recognises.
const (
	FormatEthtool          Format = "ethtool"               // ethtool -S text
	FormatMetricData       Format = "cloudwatch-data"       // aws cloudwatch get-metric-data JSON
	FormatMetricStatistics Format = "cloudwatch-statistics" // aws cloudwatch get-metric-statistics JSON
)

// MaxFileSize bounds what Load reads: a day of 1-second ENA snapshots is
// about 300 MB of text.
const MaxFileSize = 512 << 20

// Set is what one counter file held.
type Set struct {
	File   string // the name given to Load or Parse, used in errors and findings
	Format Format

	// Ethtool snapshots, oldest first. Names lists every counter name seen
	// in the file, in order of first appearance; each snapshot's Values is
	// indexed like Names.
	Names     []string
	Snapshots []Snapshot

	// CloudWatch series, one per metric result in the file.
	Series []Series

	// Notes are facts about the input worth telling the user (a timestamp
	// taken from the file's modification time, an assumed period).
	Notes []string

	index map[string]int
}

// Snapshot is one `ethtool -S` output.
type Snapshot struct {
	Time time.Time
	// TimeFrom says where Time came from: "line N" (a timestamp line) or
	// "mtime" (the file's modification time).
	TimeFrom string
	Line     int // line of the "NIC statistics:" header, 1-based
	// Counters in the order ethtool printed them. Names are shared with
	// Set.Names (no copy per snapshot); a snapshot may lack counters
	// others have (drivers add counters after an upgrade or reset).
	Counters []Counter
}

// Counter is one "name: value" line.
type Counter struct {
	Name  string
	Value uint64
}

// Value returns counter name of snapshot i.
func (s *Set) Value(i int, name string) (uint64, bool) {
	if i < 0 || i >= len(s.Snapshots) {
		return 0, false
	}
	for _, c := range s.Snapshots[i].Counters {
		if c.Name == name {
			return c.Value, true
		}
	}
	return 0, false
}

// HasCounter reports whether any snapshot holds counter name.
func (s *Set) HasCounter(name string) bool {
	_, ok := s.index[name]
	return ok
}

// Load reads and parses one counter file; the format is detected by
// content. The file's modification time stands in for a missing timestamp
// of a single ethtool snapshot.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("counters: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("counters: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("counters: %s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("counters: reading %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("counters: %s is larger than %d MiB; cut it to the capture's time window", path, MaxFileSize>>20)
	}
	return Parse(path, data, st.ModTime())
}

// ErrUnknownFormat is wrapped by Parse when a file is neither format.
var ErrUnknownFormat = errors.New("neither `ethtool -S` output nor `aws cloudwatch get-metric-data`/`get-metric-statistics` JSON")

// Parse detects the format of data and parses it. name is used in errors
// and findings; mtime (may be zero) dates a lone untimed ethtool snapshot.
func Parse(name string, data []byte, mtime time.Time) (*Set, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return ParseCloudWatch(name, data)
	}
	if hasNICHeader(data) {
		return ParseEthtool(name, data, mtime)
	}
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("counters: %s: empty file: %w", name, ErrUnknownFormat)
	}
	return nil, fmt.Errorf("counters: %s: %w (expected a \"NIC statistics:\" line or a JSON object with MetricDataResults or Datapoints)", name, ErrUnknownFormat)
}

func displayName(name string) string {
	if name == "" {
		return "-"
	}
	return filepath.Base(name)
}
