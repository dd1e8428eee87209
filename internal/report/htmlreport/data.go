package htmlreport

import (
	"encoding/json"
	"math"
)

// ChartDataVersion is bumped on incompatible changes of the ChartData JSON.
const ChartDataVersion = 1

// ChartData is the chart series of the largest TCP flows, as embedded in
// the HTML report (and served by the live page's series endpoint). Times
// are seconds since the flow's first packet (StartNS); sequence numbers
// are relative to the direction's initial sequence number.
type ChartData struct {
	Version int `json:"version"`
	// TCPFlows is the number of TCP flows seen; Flows holds at most
	// MaxFlows of them (the largest by bytes).
	TCPFlows  uint64 `json:"tcp_flows"`
	MaxFlows  int    `json:"max_flows"`
	MaxPoints int    `json:"max_points"`
	// Replaced counts candidates dropped for larger flows during the pass.
	Replaced  uint64       `json:"replaced"`
	FlagNames []string     `json:"flag_names"`
	Flows     []FlowSeries `json:"flows"`
}

// FlowSeries is the charts of one flow.
type FlowSeries struct {
	ID      uint64 `json:"id"`
	StartNS int64  `json:"start_ns"`
	Bytes   uint64 `json:"bytes"`
	// Partial: the flow was tracked only once it outgrew a smaller
	// candidate; its charts start at FromS.
	Partial bool    `json:"partial,omitempty"`
	FromS   float64 `json:"from_s,omitempty"`
	// DataDir is the direction that sent the most payload, the one whose
	// segments, flight and RTT are charted: "client_to_server" or
	// "server_to_client".
	DataDir string `json:"data_dir"`
	// Downsampled: at least one series was decimated (min/max kept).
	Downsampled bool `json:"downsampled,omitempty"`

	// Throughput: wire bits/s per bin of BinS seconds, both directions.
	BinS float64   `json:"bin_s"`
	C2S  []float64 `json:"c2s_bps"`
	S2C  []float64 `json:"s2c_bps"`
	// Flags: per flag kind (FlagNames order), the count per bin.
	Flags [][]uint32 `json:"flags"`

	// RTT of the data direction, ms: Ack = data -> ACK covering it (the
	// half from the capture point to the receiver and back); Echo = ACK ->
	// data echoing its TSval (the half to the sender and back).
	RTTAck  XY `json:"rtt_ack"`
	RTTEcho XY `json:"rtt_echo"`
	// Flight: bytes in flight of the data direction (Y) and the window the
	// receiver advertised, scaled (Y2).
	Flight XY `json:"flight"`
	// Time-sequence (Stevens) graph of the data direction.
	Seg  XY `json:"seg"`
	Retx XY `json:"retx"`
	OOO  XY `json:"ooo"`
	Lost XY `json:"lost"`
	// Ack: the receiver's cumulative ACK (Y) and ACK + window (Y2).
	Ack XY `json:"ack"`
}

// XY is a series as parallel arrays (Y2 only for two-valued series).
type XY struct {
	T  []float64 `json:"t"`
	Y  []float64 `json:"y"`
	Y2 []float64 `json:"y2,omitempty"`
}

// Data returns the series of the largest flows. Call it once, after the
// last packet; the Collector must not be used afterwards.
func (c *Collector) Data() *ChartData {
	cd := &ChartData{
		Version:   ChartDataVersion,
		TCPFlows:  c.tcp,
		MaxFlows:  c.cfg.MaxFlows,
		MaxPoints: c.cfg.MaxPoints,
		Replaced:  c.repl,
		FlagNames: flagKindNames[:],
		Flows:     []FlowSeries{},
	}
	for i, a := range c.flowsBySize() {
		if i >= c.cfg.MaxFlows {
			break
		}
		cd.Flows = append(cd.Flows, a.output())
	}
	return cd
}

func (a *flowAcc) output() FlowSeries {
	fs := FlowSeries{ID: a.id, StartNS: a.start, Bytes: a.bytes, Partial: a.partial}
	di := 0
	if a.dir[1].payload > a.dir[0].payload {
		di = 1
	}
	fs.DataDir = [2]string{"client_to_server", "server_to_client"}[di]
	fs.BinS = float64(a.binNS) / 1e9
	scale := 8 / fs.BinS
	fs.C2S = make([]float64, len(a.bins[0]))
	fs.S2C = make([]float64, len(a.bins[1]))
	for i := range a.bins[0] {
		fs.C2S[i] = math.Round(float64(a.bins[0][i]) * scale)
		fs.S2C[i] = math.Round(float64(a.bins[1][i]) * scale)
	}
	fs.Flags = make([][]uint32, numFK)
	for k := range fs.Flags {
		fs.Flags[k] = make([]uint32, len(a.flags))
		for i := range a.flags {
			fs.Flags[k][i] = a.flags[i][k]
		}
	}
	d := &a.dir[di]
	conv := func(s *series, y2 bool, ms bool) XY {
		p := s.points()
		if s.decimated {
			fs.Downsampled = true
		}
		xy := XY{T: make([]float64, len(p)), Y: make([]float64, len(p))}
		if y2 {
			xy.Y2 = make([]float64, len(p))
		}
		for i, q := range p {
			xy.T[i] = math.Round(float64(q.t)/1e3) / 1e6 // µs resolution
			if ms {
				xy.Y[i] = math.Round(q.v*1000) / 1000
			} else {
				xy.Y[i] = q.v
			}
			if y2 {
				xy.Y2[i] = q.w
				if math.IsNaN(q.w) {
					xy.Y2[i] = -1 // unknown window
				}
			}
		}
		return xy
	}
	fs.RTTAck = conv(&d.rttAck, false, true)
	fs.RTTEcho = conv(&d.rttEcho, false, true)
	fs.Flight = conv(&d.flight, true, false)
	fs.Seg = conv(&d.seg, false, false)
	fs.Retx = conv(&d.retx, false, false)
	fs.OOO = conv(&d.ooo, false, false)
	fs.Lost = conv(&d.lost, false, false)
	fs.Ack = conv(&d.ack, true, false)
	if a.partial {
		fs.FromS = float64(a.from-a.start) / 1e9
	}
	return fs
}

// MarshalFlow returns the JSON of one flow's series (the live page's
// /api/flows/{id}/series body).
func marshalFlow(fs *FlowSeries, names []string) ([]byte, error) {
	return json.Marshal(struct {
		FlagNames []string    `json:"flag_names"`
		Flow      *FlowSeries `json:"flow"`
	}{names, fs})
}
