package accuracy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// LabRunner makes the runs of a manifest with mklab.sh, one at a time (the
// lab's two CPUs are its "hardware": two runs at once would spoil both).
type LabRunner struct {
	Lab      string // folder of mklab.sh
	Corpus   string // output root: CORPUS/NAME/NAME.*.pcap
	TruthOut string // if set, copy each run's checked truth here as NAME.json
	Log      *slog.Logger
}

// SummaryName is the checked truth written next to a run's captures.
func SummaryName(name string) string { return name + ".summary.json" }

// Run makes every run of specs whose truth is not there yet. A failed lab
// run is logged and recorded as excluded (its summary says why); the
// sweep goes on.
func (lr *LabRunner) Run(ctx context.Context, specs []Spec) error {
	mk := filepath.Join(lr.Lab, "mklab.sh")
	if _, err := os.Stat(mk); err != nil {
		return fmt.Errorf("lab: %w (set LAB to the folder of mklab.sh)", err)
	}
	if err := os.MkdirAll(lr.Corpus, 0o755); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	for i, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(lr.Corpus, s.Name)
		sum := filepath.Join(dir, SummaryName(s.Name))
		if _, err := os.Stat(sum); err == nil {
			continue
		}
		t0 := time.Now()
		args := append([]string{"-o", lr.Corpus, "-f"}, s.Args()...)
		cmd := exec.CommandContext(ctx, mk, args...)
		logf, err := os.Create(filepath.Join(lr.Corpus, s.Name+".mklab.log"))
		if err != nil {
			return fmt.Errorf("log of %s: %w", s.Name, err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		runErr := cmd.Run()
		logf.Close()
		var rt *RunTruth
		if runErr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rt = &RunTruth{Spec: s, Excluded: fmt.Sprintf("lab run failed: %v (see %s.mklab.log)", runErr, s.Name)}
			_ = os.MkdirAll(dir, 0o755)
		} else if rt, err = ReadTruth(dir, s); err != nil {
			rt = &RunTruth{Spec: s, Excluded: fmt.Sprintf("unreadable truth: %v", err)}
		}
		if err := writeJSON(sum, rt); err != nil {
			return err
		}
		if lr.TruthOut != "" {
			if err := writeJSON(filepath.Join(lr.TruthOut, s.Name+".json"), rt); err != nil {
				return err
			}
		}
		lr.Log.Info("run done", "n", i+1, "of", len(specs), "run", s.Name, "s", time.Since(t0).Round(time.Second),
			"want", rt.Want, "excluded", rt.Excluded, "relabel", rt.Relabel)
	}
	return nil
}

// writeJSON writes v indented, through a temporary file.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadJSON reads a JSON file into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error { return writeJSON(path, v) }
