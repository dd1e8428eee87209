// Command sweep makes and scores mirrorscope's accuracy sweep: a seeded
// sample of lab runs (testdata/gen/sweep), mirrorscope's verdicts on every
// capture and one-direction view, and docs/accuracy.md. scripts/accuracy.sh
// is the usual way to call it; see testdata/gen/sweep/README.md.
//
//	sweep plan    -set tune -seed 11001 -n 90 -o testdata/gen/sweep/manifest-tune.json
//	sweep run     -manifest M -corpus /work/corpus/tune [-lab DIR] [-truth-out DIR]
//	sweep analyze -manifest M -corpus DIR -bin /tmp/mirrorscope -out testdata/gen/sweep/results
//	sweep report  -sweep testdata/gen/sweep -sets tune,heldout -o docs/accuracy.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mirrorscope/mirrorscope/internal/accuracy"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sweep plan|run|analyze|report [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, sub string, args []string) error {
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	switch sub {
	case "plan":
		set := fs.String("set", "tune", "tune, heldout36, heldout35, heldout34, heldout33, heldout32, heldout31, heldout30, heldout29, heldout28, heldout27, heldout26, heldout25, heldout24, heldout23, heldout22, heldout21, heldout20, heldout19, heldout18, heldout17, heldout16, heldout15, heldout14, heldout13, heldout12, heldout11, heldout10, heldout9, heldout8, heldout7, heldout6, heldout5, heldout4, heldout3 or heldout")
		seed := fs.Uint64("seed", 11001, "sampling seed")
		n := fs.Int("n", 90, "number of runs")
		out := fs.String("o", "", "manifest file to write")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *out == "" {
			return errors.New("plan: -o is required")
		}
		return accuracy.WriteJSON(*out, accuracy.Plan(*set, *seed, *n))
	case "run":
		man := fs.String("manifest", "", "manifest file")
		corpus := fs.String("corpus", "", "where the captures go (outside git)")
		lab := fs.String("lab", os.Getenv("LAB"), "folder of mklab.sh (default $LAB)")
		truthOut := fs.String("truth-out", "", "also write each run's checked truth here")
		only := fs.String("only", "", "comma-separated run names (default: all)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		m, err := readManifest(*man)
		if err != nil {
			return err
		}
		if *lab == "" {
			return errors.New("run: no lab: set LAB or -lab to the folder of mklab.sh")
		}
		lr := &accuracy.LabRunner{Lab: *lab, Corpus: *corpus, TruthOut: *truthOut, Log: log}
		return lr.Run(ctx, filter(m.Runs, *only))
	case "analyze":
		man := fs.String("manifest", "", "manifest file")
		corpus := fs.String("corpus", "", "folder of the runs' captures")
		bin := fs.String("bin", "", "mirrorscope binary")
		out := fs.String("out", "", "results folder (NAME.tsv per run)")
		truthOut := fs.String("truth-out", "", "also copy each run's checked truth here as NAME.json")
		only := fs.String("only", "", "comma-separated run names (default: all)")
		version := fs.String("version", "", "what made the binary (recorded in the results' meta file)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		m, err := readManifest(*man)
		if err != nil {
			return err
		}
		if *bin == "" || *out == "" || *corpus == "" {
			return errors.New("analyze: -bin, -corpus and -out are required")
		}
		a := &accuracy.Analyzer{Bin: *bin}
		n := 0
		for _, s := range filter(m.Runs, *only) {
			dir := filepath.Join(*corpus, s.Name)
			// the truth is checked again, so that a changed rule applies to
			// every run; a run that failed in the lab keeps its summary
			rtp, err := accuracy.ReadTruth(dir, s)
			if err != nil {
				var old accuracy.RunTruth
				if err2 := accuracy.ReadJSON(filepath.Join(dir, accuracy.SummaryName(s.Name)), &old); err2 != nil {
					continue // not made yet
				}
				rtp = &old
			} else if err := accuracy.WriteJSON(filepath.Join(dir, accuracy.SummaryName(s.Name)), rtp); err != nil {
				return err
			}
			rt := *rtp
			if *truthOut != "" {
				if err := accuracy.WriteJSON(filepath.Join(*truthOut, s.Name+".json"), &rt); err != nil {
					return err
				}
			}
			if rt.Excluded != "" && len(rt.Captures) == 0 {
				continue
			}
			frs, err := a.AnalyzeRun(ctx, dir, &rt)
			if err != nil {
				return err
			}
			if err := accuracy.WriteResultsFile(filepath.Join(*out, s.Name+".tsv"), frs); err != nil {
				return err
			}
			n++
		}
		log.Info("analyzed", "set", m.Set, "runs", n)
		if *only != "" {
			return nil // the meta file describes a whole set
		}
		return accuracy.WriteJSON(filepath.Join(*out, m.Set+".meta.json"), map[string]any{
			"set": m.Set, "runs": n, "mirrorscope": *version, "analyzed_utc": time.Now().UTC().Format(time.RFC3339)})
	case "report":
		sweep := fs.String("sweep", "testdata/gen/sweep", "sweep folder (manifests, truth/, results/)")
		sets := fs.String("sets", "tune", "sets to report, comma-separated (tune, heldout36, heldout35, heldout34, heldout33, heldout32, heldout31, heldout30, heldout29, heldout28, heldout27, heldout26, heldout25, heldout24, heldout23, heldout22, heldout21, heldout20, heldout19, heldout18, heldout17, heldout16, heldout15, heldout14, heldout13, heldout12, heldout11, heldout10, heldout9, heldout8, heldout7, heldout6, heldout5, heldout4, heldout3, heldout)")
		out := fs.String("o", "docs/accuracy.md", "report file")
		command := fs.String("command", "scripts/accuracy.sh", "the command named in the report")
		resultsDir := fs.String("results", "", "results folder (default SWEEP/results)")
		truthDir := fs.String("truth", "", "truth folder (default SWEEP/truth)")
		beforeDir := fs.String("before", "", "baseline results folder (default SWEEP/results-before if present; \"none\" for none)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *resultsDir == "" {
			*resultsDir = filepath.Join(*sweep, "results")
		}
		if *truthDir == "" {
			*truthDir = filepath.Join(*sweep, "truth")
		}
		var sds []*accuracy.SetData
		for _, name := range accuracy.SetNames {
			sd, err := accuracy.LoadSetFrom(*sweep, *truthDir, *resultsDir, name, strings.Contains(","+*sets+",", ","+name+","))
			if err != nil {
				return err
			}
			if *beforeDir == "" {
				*beforeDir = filepath.Join(*sweep, "results-before")
			}
			if *beforeDir != "none" && sd.Evaluated {
				if bd, err := accuracy.LoadSetFrom(*sweep, *truthDir, *beforeDir, name, true); err == nil && bd.Evaluated {
					sd.Before = bd.Evals
				}
			}
			sds = append(sds, sd)
		}
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		meta := accuracy.ReportMeta{Command: *command, Results: accuracy.ResultsNote(*resultsDir)}
		if *beforeDir != "none" {
			meta.Before = strings.TrimPrefix(strings.TrimSuffix(accuracy.ResultsNote(*beforeDir), "."), "Results: ")
		}
		if err := accuracy.WriteReport(f, meta, sds); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	default:
		return fmt.Errorf("unknown subcommand %q (plan, run, analyze, report)", sub)
	}
}

func readManifest(path string) (*accuracy.Manifest, error) {
	if path == "" {
		return nil, errors.New("-manifest is required")
	}
	var m accuracy.Manifest
	if err := accuracy.ReadJSON(path, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}

func filter(specs []accuracy.Spec, only string) []accuracy.Spec {
	if only == "" {
		return specs
	}
	keep := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		keep[filepath.Base(strings.TrimSpace(n))] = true
	}
	var out []accuracy.Spec
	for _, s := range specs {
		if keep[s.Name] {
			out = append(out, s)
		}
	}
	return out
}
