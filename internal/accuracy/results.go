package accuracy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Views of a capture: both directions, or only what an AWS mirror filter
// with one rule would mirror from the capture's host interface.
const (
	ViewBoth    = "both"
	ViewIngress = "ingress"
	ViewEgress  = "egress"
)

// Views is every view made of each capture.
var Views = []string{ViewBoth, ViewIngress, ViewEgress}

// Visibility of a flow in a view (mirrorscope's diagnosis.visibility).
const (
	VisBoth     = "both"
	VisDataOnly = "data_only"
	VisAcksOnly = "acks_only"
)

// Host addresses of the lab (mklab.sh: RFC 2544 range, fixed).
const (
	CliIP = "198.18.0.1"
	SrvIP = "198.18.0.2"
)

// PointHost is the host whose interface a capture point sees: the mirror
// (mon) copies srv's eth0.
func PointHost(point string) string {
	if point == "cli" {
		return "cli"
	}
	return "srv"
}

// hostIP is the lab address of host.
func hostIP(host string) string {
	if host == "cli" {
		return CliIP
	}
	return SrvIP
}

// AnalyzeArgs is mirrorscope's command line for one view of a capture.
// The one-direction views use mirrorscope's own AWS filter rules, with the
// captured host's address as the ENI.
func AnalyzeArgs(view, point, file string) []string {
	a := []string{"analyze", "-q", "--format", "json"}
	if view != ViewBoth {
		a = append(a, "--rule", view+" 100 accept tcp", "--eni-ip", hostIP(PointHost(point)))
	}
	return append(a, file)
}

// FlowResult is mirrorscope's verdict on one TCP flow of one view.
type FlowResult struct {
	Run, Point, View string
	ID               int
	Client, Server   string
	PayloadC2S       int64 // payload bytes client->server seen in the view
	PayloadS2C       int64
	Verdict          string
	Direction        string
	RateBps          float64
	Confidence       float64
	Visibility       string // as reported; "" when the field is absent
	SharedID         string
	SharedVerdict    string
	SharedRateBps    float64
	SharedFlows      string // flow ids, comma-separated
	Summary          string
}

// report is the part of mirrorscope's JSON report read here.
type report struct {
	Flows []struct {
		ID     int    `json:"id"`
		Proto  string `json:"proto"`
		Client string `json:"client"`
		Server string `json:"server"`
		C2S    struct {
			Payload int64 `json:"payload_bytes"`
		} `json:"client_to_server"`
		S2C struct {
			Payload int64 `json:"payload_bytes"`
		} `json:"server_to_client"`
		Diagnosis *struct {
			Verdict    string  `json:"verdict"`
			Direction  string  `json:"direction"`
			RateBps    float64 `json:"rate_bps"`
			Confidence float64 `json:"confidence"`
			Summary    string  `json:"summary"`
			Visibility string  `json:"visibility"`
			Shared     *struct {
				ID      any     `json:"id"`
				Verdict string  `json:"verdict"`
				RateBps float64 `json:"rate_bps"`
				Flows   []any   `json:"flows"`
			} `json:"shared_limiter"`
		} `json:"diagnosis"`
	} `json:"flows"`
}

// ParseReport reads mirrorscope's JSON report and returns its TCP flows.
func ParseReport(r io.Reader, run, point, view string) ([]FlowResult, error) {
	var rep report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("mirrorscope report: %w", err)
	}
	var out []FlowResult
	for _, f := range rep.Flows {
		if f.Proto != "tcp" {
			continue
		}
		fr := FlowResult{Run: run, Point: point, View: view, ID: f.ID, Client: f.Client, Server: f.Server,
			PayloadC2S: f.C2S.Payload, PayloadS2C: f.S2C.Payload}
		if d := f.Diagnosis; d != nil {
			fr.Verdict, fr.Direction, fr.RateBps, fr.Confidence = d.Verdict, d.Direction, d.RateBps, d.Confidence
			fr.Visibility, fr.Summary = d.Visibility, d.Summary
			if s := d.Shared; s != nil {
				fr.SharedID, fr.SharedVerdict, fr.SharedRateBps = fmt.Sprint(s.ID), s.Verdict, s.RateBps
				ids := make([]string, len(s.Flows))
				for i, x := range s.Flows {
					ids[i] = fmt.Sprint(x)
				}
				fr.SharedFlows = strings.Join(ids, ",")
			}
		}
		out = append(out, fr)
	}
	return out, nil
}

// Analyzer runs a mirrorscope binary on the captures of runs.
type Analyzer struct {
	Bin string // mirrorscope binary
}

// AnalyzeRun runs every view of every capture of run (in dir) and returns
// the flows. A view that mirrorscope rejects is an error: the sweep must
// not silently lose flows.
func (a *Analyzer) AnalyzeRun(ctx context.Context, dir string, rt *RunTruth) ([]FlowResult, error) {
	var out []FlowResult
	for _, p := range rt.Captures {
		file := filepath.Join(dir, rt.Name+"."+p+".pcap")
		if _, err := os.Stat(file); err != nil {
			if _, err2 := os.Stat(file + ".gz"); err2 != nil {
				return nil, fmt.Errorf("capture %s: %w", file, err)
			}
			file += ".gz"
		}
		for _, v := range Views {
			cmd := exec.CommandContext(ctx, a.Bin, AnalyzeArgs(v, p, file)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("%s %s view %s: %w: %s", a.Bin, file, v, err, strings.TrimSpace(stderr.String()))
			}
			frs, err := ParseReport(&stdout, rt.Name, p, v)
			if err != nil {
				return nil, fmt.Errorf("%s view %s: %w", file, v, err)
			}
			out = append(out, frs...)
		}
	}
	return out, nil
}

// resultCols is the header of a results TSV file.
var resultCols = []string{"run", "point", "view", "flow", "client", "server", "payload_c2s", "payload_s2c",
	"verdict", "direction", "rate_bps", "confidence", "visibility",
	"shared_id", "shared_verdict", "shared_rate_bps", "shared_flows", "summary"}

func clean(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }

// WriteResults writes flows as TSV (one line per flow and view).
func WriteResults(w io.Writer, frs []FlowResult) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(strings.Join(resultCols, "\t") + "\n")
	for _, f := range frs {
		fields := []string{f.Run, f.Point, f.View, strconv.Itoa(f.ID), f.Client, f.Server,
			strconv.FormatInt(f.PayloadC2S, 10), strconv.FormatInt(f.PayloadS2C, 10),
			f.Verdict, f.Direction, strconv.FormatFloat(f.RateBps, 'f', 0, 64),
			strconv.FormatFloat(f.Confidence, 'f', 3, 64), f.Visibility,
			f.SharedID, f.SharedVerdict, strconv.FormatFloat(f.SharedRateBps, 'f', 0, 64), f.SharedFlows, clean(f.Summary)}
		for i := range fields {
			fields[i] = clean(fields[i])
		}
		bw.WriteString(strings.Join(fields, "\t") + "\n")
	}
	return bw.Flush()
}

// ReadResults reads a TSV written by WriteResults.
func ReadResults(r io.Reader) ([]FlowResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var out []FlowResult
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			if sc.Text() != strings.Join(resultCols, "\t") {
				return nil, fmt.Errorf("results: unexpected header %q", sc.Text())
			}
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != len(resultCols) {
			return nil, fmt.Errorf("results line %d: %d fields, want %d", line, len(c), len(resultCols))
		}
		var f FlowResult
		var err error
		num := func(s string) float64 {
			v, e := strconv.ParseFloat(s, 64)
			if e != nil && err == nil {
				err = fmt.Errorf("results line %d: %w", line, e)
			}
			return v
		}
		f.Run, f.Point, f.View = c[0], c[1], c[2]
		f.ID = int(num(c[3]))
		f.Client, f.Server = c[4], c[5]
		f.PayloadC2S, f.PayloadS2C = int64(num(c[6])), int64(num(c[7]))
		f.Verdict, f.Direction = c[8], c[9]
		f.RateBps, f.Confidence = num(c[10]), num(c[11])
		f.Visibility, f.SharedID, f.SharedVerdict = c[12], c[13], c[14]
		f.SharedRateBps = num(c[15])
		f.SharedFlows, f.Summary = c[16], c[17]
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, sc.Err()
}

// ReadResultsFile reads a results TSV file.
func ReadResultsFile(path string) ([]FlowResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	frs, err := ReadResults(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return frs, nil
}

// WriteResultsFile writes a results TSV file.
func WriteResultsFile(path string, frs []FlowResult) error {
	var b bytes.Buffer
	if err := WriteResults(&b, frs); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
