package counters

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

const nicHeader = "NIC statistics:"

// maxCounters bounds the distinct counter names of one file, so a garbage
// file cannot grow the name table without bound (ENA on a 32-queue
// instance has about 1,000).
const maxCounters = 1 << 16

func hasNICHeader(data []byte) bool {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if string(bytes.TrimSpace(line)) == nicHeader {
			return true
		}
	}
	return false
}

// ParseEthtool parses `ethtool -S` text: one or more "NIC statistics:"
// blocks of indented "name: value" lines, each optionally preceded by a
// timestamp line. Lines starting with '#' that are not timestamps are
// comments. A single snapshot without a timestamp takes mtime; several
// snapshots without timestamps are an error (their times are unknown).
func ParseEthtool(name string, data []byte, mtime time.Time) (*Set, error) {
	s := &Set{File: name, Format: FormatEthtool, index: map[string]int{}}
	fail := func(line int, format string, a ...any) (*Set, error) {
		return nil, fmt.Errorf("counters: %s:%d: %s", name, line, fmt.Sprintf(format, a...))
	}
	var (
		pending     time.Time
		pendingLine int
		cur         *Snapshot
		untimed     []int // indices of snapshots without a timestamp
	)
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		raw := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		raw = bytes.TrimSuffix(raw, []byte{'\r'})
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\ufeff"))
		}
		line := strings.TrimSpace(string(raw))
		indented := len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t')
		switch {
		case line == "":
			continue
		case line == nicHeader:
			s.Snapshots = append(s.Snapshots, Snapshot{Line: lineNo})
			cur = &s.Snapshots[len(s.Snapshots)-1]
			if !pending.IsZero() {
				cur.Time, cur.TimeFrom = pending, fmt.Sprintf("line %d", pendingLine)
				pending = time.Time{}
			} else {
				untimed = append(untimed, len(s.Snapshots)-1)
			}
			continue
		case strings.HasPrefix(line, "#"):
			if t, ok := parseTimestamp(strings.TrimSpace(line[1:])); ok {
				if !pending.IsZero() {
					return fail(lineNo, "second timestamp before a \"NIC statistics:\" block (the one on line %d has no counters)", pendingLine)
				}
				pending, pendingLine = t, lineNo
			}
			continue
		}
		if !indented {
			if t, ok := parseTimestamp(line); ok {
				if !pending.IsZero() {
					return fail(lineNo, "second timestamp before a \"NIC statistics:\" block (the one on line %d has no counters)", pendingLine)
				}
				pending, pendingLine = t, lineNo
				continue
			}
			if strings.HasPrefix(line, "no stats available") || strings.HasPrefix(line, "Cannot get stats") {
				return fail(lineNo, "ethtool reported an error: %q", clip(line))
			}
			// Some drivers do not indent; accept name: value after a header.
			if cur == nil || !strings.Contains(line, ":") {
				return fail(lineNo, "neither a timestamp nor an ethtool -S counter line: %q", clip(line))
			}
		}
		if cur == nil {
			return fail(lineNo, "counter line before any \"NIC statistics:\" header: %q", clip(line))
		}
		i := strings.LastIndexByte(line, ':')
		if i <= 0 {
			return fail(lineNo, "expected \"name: value\": %q", clip(line))
		}
		cname := strings.TrimSpace(line[:i])
		vs := strings.TrimSpace(line[i+1:])
		v, err := strconv.ParseUint(vs, 10, 64)
		if err != nil {
			// Counters are unsigned; a negative value is a driver
			// printing a signed field: keep 0 rather than fail the file.
			if n, err2 := strconv.ParseInt(vs, 10, 64); err2 == nil && n < 0 {
				v = 0
			} else {
				return fail(lineNo, "counter %q: value %q is not a number", clip(cname), clip(vs))
			}
		}
		k, ok := s.index[cname]
		if !ok {
			if len(s.Names) >= maxCounters {
				return fail(lineNo, "more than %d distinct counter names", maxCounters)
			}
			k = len(s.Names)
			s.Names = append(s.Names, cname)
			s.index[cname] = k
		}
		cur.Counters = append(cur.Counters, Counter{s.Names[k], v})
	}
	if !pending.IsZero() {
		return fail(pendingLine, "timestamp not followed by a \"NIC statistics:\" block")
	}
	if len(s.Snapshots) == 0 {
		return nil, fmt.Errorf("counters: %s: no \"NIC statistics:\" block: %w", name, ErrUnknownFormat)
	}
	switch {
	case len(untimed) == 0:
	case len(s.Snapshots) == 1 && !mtime.IsZero():
		s.Snapshots[0].Time, s.Snapshots[0].TimeFrom = mtime.UTC(), "mtime"
		s.Notes = append(s.Notes, fmt.Sprintf("%s: the snapshot has no timestamp line; the file's modification time %s stands in for it",
			displayName(name), mtime.UTC().Format(time.RFC3339)))
	default:
		sn := s.Snapshots[untimed[0]]
		return nil, fmt.Errorf("counters: %s:%d: snapshot without a timestamp line (%d of %d snapshots have none); "+
			"print one before each: while sleep 1; do date -Iseconds; ethtool -S eth0; done",
			name, sn.Line, len(untimed), len(s.Snapshots))
	}
	sort.SliceStable(s.Snapshots, func(i, j int) bool { return s.Snapshots[i].Time.Before(s.Snapshots[j].Time) })
	return s, nil
}

// timeLayouts are what `date` prints: -Iseconds, -Ins (comma before the
// fraction, normalised to a dot), RFC 3339 with Z, and the default format.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.UnixDate,
	"Mon Jan _2 15:04:05 MST 2006",
	"Mon 02 Jan 2006 15:04:05 MST",
	"Mon Jan _2 03:04:05 PM MST 2006",
}

// parseTimestamp recognises one timestamp line. Times without a zone
// cannot be placed against a capture and are not accepted.
func parseTimestamp(s string) (time.Time, bool) {
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-: ") {
		// date +%s or date +%s.%N
		sec, frac, _ := strings.Cut(s, ".")
		n, err := strconv.ParseInt(sec, 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return time.Time{}, false
		}
		var ns int64
		if frac != "" {
			if len(frac) > 9 {
				frac = frac[:9]
			}
			f, err := strconv.ParseUint(frac, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			for i := len(frac); i < 9; i++ {
				f *= 10
			}
			ns = int64(f)
		}
		return time.Unix(n, ns).UTC(), true
	}
	norm := strings.Replace(s, ",", ".", 1)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, norm); err == nil {
			if l == time.UnixDate || strings.Contains(l, "MST") {
				// Zone abbreviations other than UTC/GMT parse with a zero
				// offset: only trust UTC.
				if !strings.Contains(s, "UTC") && !strings.Contains(s, "GMT") {
					return time.Time{}, false
				}
			}
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
