package accuracy

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Verdicts as mirrorscope's JSON spells them (docs/json.md).
const (
	VPolicer          = "policer"
	VShaper           = "shaper"
	VReceiverWindow   = "receiver_window"
	VApplication      = "application"
	VRandomLoss       = "random_loss"
	VReordering       = "reordering"
	VCongestion       = "congestion"
	VUnconstrained    = "unconstrained"
	VInsufficientData = "insufficient_data"
)

// Verdicts is the display order of the verdicts in the report.
var Verdicts = []string{VPolicer, VShaper, VReceiverWindow, VApplication, VRandomLoss,
	VReordering, VCongestion, VUnconstrained, VInsufficientData}

// goodputShare is TCP payload per wire byte for full-sized segments with
// the timestamp option: 1448 B of payload in a 1514 B Ethernet frame.
const goodputShare = 1448.0 / 1514.0

// Conn is one iperf3 data connection of a run.
type Conn struct {
	Client string `json:"client"` // ip:port of the iperf3 client socket (cli)
	Server string `json:"server"` // ip:port of the server (srv:5201)
	Sender string `json:"sender"` // "cli" or "srv": which host sent the data
}

// DirCounters are the lab's counters for one data direction.
type DirCounters struct {
	Dir          string  `json:"dir"` // cli->srv or srv->cli
	Streams      int     `json:"streams"`
	ReceiverBps  float64 `json:"receiver_bps"` // iperf3's receiver goodput, all streams
	Retransmits  int     `json:"retransmits"`
	MinRTTus     int     `json:"min_rtt_us"`
	TBFDrops     int     `json:"tbf_drops,omitempty"`
	TBFOverlimit int     `json:"tbf_overlimits,omitempty"`
	DropLoss     int     `json:"drop_loss,omitempty"`
	DropQueue    int     `json:"drop_queue,omitempty"`
	DropPolice   int     `json:"drop_police,omitempty"`
	ReorderImm   int     `json:"reorder_immediate,omitempty"`
	WireFrames   int     `json:"wire_rx_frames,omitempty"`
}

// RunTruth is the checked ground truth of one run: what mirrorscope must
// say about each data flow, or why the run is left out. It is small and
// committed (testdata/gen/sweep/truth/NAME.json).
type RunTruth struct {
	Spec
	Conns    []Conn        `json:"connections"`
	Counters []DirCounters `json:"counters"`
	Captures []string      `json:"captures"` // capture points present: cli, srv, mon
	// Want is the verdict of every data flow; "" when Excluded.
	Want string `json:"want"`
	// RateBps is the limiter's rate over Ethernet frames (shaper, policer,
	// FIFO link), 0 when the verdict carries no rate.
	RateBps float64 `json:"rate_bps,omitempty"`
	// Shared: several data flows in one direction pass one limiter; the
	// rate is then the aggregate's.
	Shared bool `json:"shared,omitempty"`
	// Relabel says why Want differs from the kind's usual verdict.
	Relabel  string `json:"relabel,omitempty"`
	Excluded string `json:"excluded,omitempty"`
}

// KindVerdict is the verdict a run of kind normally gets.
func KindVerdict(kind string, streams int) string {
	switch kind {
	case KindShaper:
		return VShaper
	case KindPolicer:
		return VPolicer
	case KindFIFO:
		// A drop-tail FIFO in front of a link of rate R is a queue served
		// at R: what a tbf shaper with a small bucket is too, and what
		// nobody can tell apart on the wire (both queue, then drop at the
		// tail). Shared by N flows it is still one rate limit of R that
		// the N flows split, so one flow or several it is a shaper at the
		// link rate (the aggregate when shared). Congestion is left for a
		// bottleneck whose rate the visible flows do not fill together:
		// cross traffic the capture does not show (docs/accuracy.md,
		// "FIFO links").
		return VShaper
	case KindLoss:
		return VRandomLoss
	case KindReorder:
		return VReordering
	case KindRwnd:
		return VReceiverWindow
	case KindAppConst, KindAppBursty:
		return VApplication
	case KindNone:
		return VUnconstrained
	}
	return ""
}

// truthFile is the part of mklab.sh's NAME.truth.json read here.
type truthFile struct {
	Scenario string            `json:"scenario"`
	Params   map[string]string `json:"params"`
	Iperf3   struct {
		Up   *iperfDir `json:"cli_to_srv"`
		Down *iperfDir `json:"srv_to_cli"`
	} `json:"iperf3"`
	Counters struct {
		Qdisc []struct {
			Dev        string `json:"dev"`
			Kind       string `json:"kind"`
			Drops      int    `json:"drops"`
			Overlimits int    `json:"overlimits"`
		} `json:"rtr_qdisc"`
		Labwire *struct {
			Directions []struct {
				Name  string `json:"name"`
				Stats struct {
					RxFrames   int `json:"rx_frames"`
					DropLoss   int `json:"drop_loss"`
					DropQueue  int `json:"drop_queue"`
					DropPolice int `json:"drop_police"`
					ReorderImm int `json:"reorder_immediate"`
				} `json:"stats"`
			} `json:"directions"`
		} `json:"labwire"`
	} `json:"counters"`
	Captures []struct {
		Point string `json:"point"`
	} `json:"captures"`
}

type iperfDir struct {
	Streams     int     `json:"streams"`
	ReceiverBps float64 `json:"receiver_bps"`
	Retransmits int     `json:"retransmits"`
	MinRTTus    int     `json:"min_rtt_us"`
}

// iperfClient is the part of raw/iperf3-client.json that maps sockets to
// senders (in --bidir, half the sockets receive).
type iperfClient struct {
	Start struct {
		Connected []struct {
			Socket     int    `json:"socket"`
			LocalHost  string `json:"local_host"`
			LocalPort  int    `json:"local_port"`
			RemoteHost string `json:"remote_host"`
			RemotePort int    `json:"remote_port"`
		} `json:"connected"`
	} `json:"start"`
	End struct {
		Streams []struct {
			Sender struct {
				Socket int  `json:"socket"`
				Sender bool `json:"sender"`
			} `json:"sender"`
		} `json:"streams"`
	} `json:"end"`
}

// ParseRate reads a tc/iperf3 rate ("20mbit", "5M", "1.5gbit") in bit/s.
func ParseRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suf string
		m   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	return v * mult, nil
}

// ReadTruth reads run dir/NAME (mklab.sh's output folder) and checks its
// counters. spec is the planned run.
func ReadTruth(dir string, spec Spec) (*RunTruth, error) {
	rt := &RunTruth{Spec: spec}
	var tf truthFile
	b, err := os.ReadFile(filepath.Join(dir, spec.Name+".truth.json"))
	if err != nil {
		return nil, fmt.Errorf("truth of %s: %w", spec.Name, err)
	}
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("truth of %s: %w", spec.Name, err)
	}
	for _, c := range tf.Captures {
		rt.Captures = append(rt.Captures, c.Point)
	}
	sort.Strings(rt.Captures)
	var ic iperfClient
	b, err = os.ReadFile(filepath.Join(dir, "raw", "iperf3-client.json"))
	if err != nil {
		return nil, fmt.Errorf("iperf3 client JSON of %s: %w", spec.Name, err)
	}
	if err := json.Unmarshal(b, &ic); err != nil {
		return nil, fmt.Errorf("iperf3 client JSON of %s: %w", spec.Name, err)
	}
	sender := map[int]bool{}
	for _, s := range ic.End.Streams {
		sender[s.Sender.Socket] = s.Sender.Sender
	}
	for _, c := range ic.Start.Connected {
		cn := Conn{Client: fmt.Sprintf("%s:%d", c.LocalHost, c.LocalPort),
			Server: fmt.Sprintf("%s:%d", c.RemoteHost, c.RemotePort), Sender: "srv"}
		if s, ok := sender[c.Socket]; ok && s {
			cn.Sender = "cli"
		}
		rt.Conns = append(rt.Conns, cn)
	}
	// per data direction counters; labwire a2b is cli->srv, tbf sits on
	// the port toward the receiver (to-srv for cli->srv).
	for _, d := range []struct {
		name, dev, wire string
		ip              *iperfDir
	}{{"cli->srv", "to-srv", "a2b", tf.Iperf3.Up}, {"srv->cli", "to-cli", "b2a", tf.Iperf3.Down}} {
		if d.ip == nil {
			continue
		}
		dc := DirCounters{Dir: d.name, Streams: d.ip.Streams, ReceiverBps: d.ip.ReceiverBps,
			Retransmits: d.ip.Retransmits, MinRTTus: d.ip.MinRTTus}
		for _, q := range tf.Counters.Qdisc {
			if q.Kind == "tbf" && q.Dev == d.dev {
				dc.TBFDrops += q.Drops
				dc.TBFOverlimit += q.Overlimits
			}
		}
		if tf.Counters.Labwire != nil {
			for _, w := range tf.Counters.Labwire.Directions {
				if w.Name == d.wire {
					dc.DropLoss, dc.DropQueue, dc.DropPolice = w.Stats.DropLoss, w.Stats.DropQueue, w.Stats.DropPolice
					dc.ReorderImm, dc.WireFrames = w.Stats.ReorderImm, w.Stats.RxFrames
				}
			}
		}
		rt.Counters = append(rt.Counters, dc)
	}
	rt.check(tf.Params)
	return rt, nil
}

// check sets Want, RateBps and Shared from the kind, then checks from the
// counters that the limiter really acted on every data direction. A run
// whose limiter never engaged is relabelled when its cause is still
// clear, or else excluded with the reason.
func (rt *RunTruth) check(params map[string]string) {
	rt.Want = KindVerdict(rt.Kind, rt.Streams)
	rt.Shared = rt.Streams > 1 && (rt.Kind == KindShaper || rt.Kind == KindPolicer || rt.Kind == KindFIFO)
	rateKey := map[string]string{KindShaper: "rate", KindPolicer: "rate", KindFIFO: "linkrate"}[rt.Kind]
	if rateKey != "" {
		r, err := ParseRate(params[rateKey])
		if err != nil {
			rt.exclude("bad rate parameter: %v", err)
			return
		}
		rt.RateBps = r
	}
	if len(rt.Conns) == 0 || len(rt.Counters) == 0 {
		rt.exclude("iperf3 reported no data connection")
		return
	}
	wantDirs := map[string]int{"up": 1, "down": 1, "bidir": 2}[rt.Direction]
	if len(rt.Counters) != wantDirs {
		rt.exclude("iperf3 reported %d data directions, want %d", len(rt.Counters), wantDirs)
		return
	}
	// a loss run whose flows filled the link (BBR ignores random loss)
	// was limited by the link, not by the loss: as a FIFO that did not
	// overflow with the link >= 90% full, a shaper at the link rate
	lossLink, lossFull := 0.0, len(rt.Counters) > 0
	if rt.Kind == KindLoss {
		if r, err := ParseRate(params["linkrate"]); err == nil && r > 0 {
			lossLink = r
		}
	}
	for _, c := range rt.Counters {
		if lossLink == 0 || c.ReceiverBps < lossLinkFull*lossLink*goodputShare {
			lossFull = false
		}
		goodput := rt.RateBps * goodputShare
		share := 0.0
		if goodput > 0 {
			share = c.ReceiverBps / goodput
		}
		switch rt.Kind {
		case KindShaper:
			if c.TBFDrops+c.TBFOverlimit == 0 {
				rt.exclude("%s: tbf never queued or dropped (overlimits 0); goodput %.1f Mbit/s = %.0f%% of the rate", c.Dir, c.ReceiverBps/1e6, 100*share)
				return
			}
			if share < 0.7 {
				rt.exclude("%s: goodput %.1f Mbit/s is %.0f%% of the shaper rate: the sender did not fill it", c.Dir, c.ReceiverBps/1e6, 100*share)
				return
			}
		case KindPolicer:
			// A policer that dropped a handful of frames and then saw the
			// flow crawl far under its rate did not limit it: a rate
			// cannot be read from that, nor is the flow free.
			if c.DropPolice < 5 {
				rt.exclude("%s: policer dropped only %d frames; goodput %.0f%% of the rate", c.Dir, c.DropPolice, 100*share)
				return
			}
			if share < 0.25 {
				rt.exclude("%s: goodput %.1f Mbit/s is %.0f%% of the policer rate after %d drops: the flow hardly met it", c.Dir, c.ReceiverBps/1e6, 100*share, c.DropPolice)
				return
			}
		case KindFIFO:
			if c.DropQueue > 0 {
				continue
			}
			if rt.Streams == 1 && c.Retransmits == 0 && share < 0.5 {
				// harness rule: a transfer that never reached the link
				rt.Want, rt.RateBps = VUnconstrained, 0
				rt.Relabel = fmt.Sprintf("%s: FIFO never overflowed, no retransmission, %.0f%% of the link: ended before filling it", c.Dir, 100*share)
				continue
			}
			if share < 0.9 {
				rt.exclude("%s: FIFO never overflowed and the link was %.0f%% full: neither limited nor free", c.Dir, 100*share)
				return
			}
		case KindLoss:
			if c.DropLoss == 0 {
				rt.exclude("%s: no random drop (drop_loss 0)", c.Dir)
				return
			}
			if c.DropQueue > 0 {
				rt.exclude("%s: the link FIFO also overflowed (%d queue drops besides %d random)", c.Dir, c.DropQueue, c.DropLoss)
				return
			}
		case KindReorder:
			if c.ReorderImm == 0 {
				rt.exclude("%s: no frame was reordered", c.Dir)
				return
			}
			if c.DropQueue+c.DropLoss > 0 {
				rt.exclude("%s: real drops besides the reordering (%d)", c.Dir, c.DropQueue+c.DropLoss)
				return
			}
		case KindRwnd:
			if c.DropQueue+c.DropLoss+c.DropPolice > 0 {
				rt.exclude("%s: drops on the path (%d)", c.Dir, c.DropQueue+c.DropLoss+c.DropPolice)
				return
			}
		case KindAppConst, KindAppBursty:
			br, err := ParseRate(params["bitrate"])
			if err != nil {
				rt.exclude("bad bitrate: %v", err)
				return
			}
			if want := br * float64(c.Streams); c.ReceiverBps < 0.85*want {
				rt.exclude("%s: goodput %.1f Mbit/s under 85%% of the application's %.1f Mbit/s: something else limited it", c.Dir, c.ReceiverBps/1e6, want/1e6)
				return
			}
		}
	}
	if rt.Want == VUnconstrained && rt.Kind == KindFIFO {
		rt.Shared = false
	}
	if rt.Kind == KindLoss && rt.Excluded == "" && lossFull {
		rt.Want, rt.RateBps, rt.Shared = VShaper, lossLink, rt.Streams > 1
		rt.Relabel = fmt.Sprintf("the flows filled the %.0f Mbit/s link (goodput >= %.0f%% of it in every direction) despite the random loss: the link limited them", lossLink/1e6, 100*lossLinkFull)
	}
}

// lossLinkFull: the share of a loss run's link that its goodput must
// reach for the link, not the loss, to be the limit.
const lossLinkFull = 0.9

func (rt *RunTruth) exclude(f string, a ...any) {
	rt.Excluded = fmt.Sprintf(f, a...)
	rt.Want = ""
}

// RateBound is the allowed relative error of the rate for a verdict, 0
// when no rate is checked: 5% for a shaper, 10% for a policer.
func RateBound(verdict string) float64 {
	switch verdict {
	case VShaper:
		return 0.05
	case VPolicer:
		return 0.10
	}
	return 0
}

// relErr is (got-want)/want, NaN when either is missing.
func relErr(got, want float64) float64 {
	if got <= 0 || want <= 0 {
		return math.NaN()
	}
	return (got - want) / want
}
