package diagnose

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/tcpseq"
)

// capPkt is one decoded packet of a test capture.
type capPkt struct {
	ts int64
	p  decode.Packet
}

type flowKey struct {
	a, b  netip.AddrPort // a < b
	outer netip.Addr
	vni   uint32
}

type capFlow struct {
	key     flowKey
	client  netip.AddrPort
	pkts    []capPkt
	payload uint64
}

func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("gzip %s: %w", path, err)
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

// readFlows decodes a pcap (optionally gzipped) and groups TCP packets
// by connection and mirror session.
func readFlows(t testing.TB, path string) []*capFlow {
	t.Helper()
	rc, err := openMaybeGzip(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rc.Close()
	r, err := pcapgo.NewReader(rc)
	if err != nil {
		t.Fatalf("pcap %s: %v", path, err)
	}
	dec := decode.New(decode.DefaultConfig())
	link := decode.LinkType(r.LinkType())
	flows := map[flowKey]*capFlow{}
	var order []*capFlow
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		var p decode.Packet
		if dec.Decode(data, link, uint32(ci.Length), &p) != nil || !p.HasTCP() {
			continue
		}
		src := netip.AddrPortFrom(p.Src, p.SrcPort)
		dst := netip.AddrPortFrom(p.Dst, p.DstPort)
		k := flowKey{a: src, b: dst, outer: p.Session.OuterSrc, vni: p.Session.VNI}
		if dst.Addr().Less(src.Addr()) || dst.Addr() == src.Addr() && dst.Port() < src.Port() {
			k.a, k.b = dst, src
		}
		fl := flows[k]
		if fl == nil {
			fl = &capFlow{key: k, client: src}
			if p.TCP.Flags&decode.TCPSyn != 0 && p.TCP.Flags&decode.TCPAck != 0 {
				fl.client = dst
			}
			flows[k] = fl
			order = append(order, fl)
		}
		fl.pkts = append(fl.pkts, capPkt{ts: ci.Timestamp.UnixNano(), p: p})
		fl.payload += uint64(p.PayloadLen)
	}
	return order
}

// largest returns the flow with the most payload (the iperf3 data
// stream; the control connection is the small one).
func largest(fs []*capFlow) *capFlow {
	var best *capFlow
	for _, f := range fs {
		if best == nil || f.payload > best.payload {
			best = f
		}
	}
	return best
}

// diagnoseFlow runs tcpseq (Wireshark-style analysis) and the diagnosis.
func diagnoseFlow(cfg Config, fl *capFlow) *Diagnosis {
	return diagnoseFlowF(NewFlow(cfg), fl)
}

func diagnoseFlowF(f *Flow, fl *capFlow) *Diagnosis {
	conn := tcpseq.NewConn(tcpseq.Config{})
	var res tcpseq.Result
	for i := range fl.pkts {
		cp := &fl.pkts[i]
		dir := 1
		if netip.AddrPortFrom(cp.p.Src, cp.p.SrcPort) == fl.client {
			dir = 0
		}
		conn.Analyze(&cp.p, cp.ts, &res)
		f.Observe(cp.ts, dir, &cp.p, &res)
	}
	return f.Finish()
}

// labCapture is one capture of the lab corpus with its ground truth.
type labCapture struct {
	run, scenario, point, path string
	eval                       bool
	params                     map[string]string
	rateCap                    float64 // bits/s on the wire, 0 = none
	want                       string  // expected verdict of every data flow
	clients                    []netip.AddrPort
}

type truthJSON struct {
	Scenario string            `json:"scenario"`
	Params   map[string]string `json:"params"`
	Expect   struct {
		RateCap  float64 `json:"rate_cap_bps"`
		LinkRate float64 `json:"link_rate_bps"`
	} `json:"expect"`
	// Connections are the iperf3 data streams (the control connection
	// is not listed).
	Connections []struct {
		Local  string `json:"local"`
		Remote string `json:"remote"`
	} `json:"connections"`
	Iperf3 struct {
		Up *struct {
			ReceiverBps float64 `json:"receiver_bps"`
			Retransmits int     `json:"retransmits"`
		} `json:"cli_to_srv"`
	} `json:"iperf3"`
	Counters struct {
		Labwire *struct {
			Directions []struct {
				Stats struct {
					DropQueue int `json:"drop_queue"`
				} `json:"stats"`
			} `json:"directions"`
		} `json:"labwire"`
	} `json:"counters"`
}

func readJSONMaybeGzip(path string, v any) error {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	return json.NewDecoder(bytes.NewReader(b)).Decode(v)
}

// labCorpus finds NAME.truth.json(.gz) with NAME.{cli,srv,mon}.pcap(.gz)
// anywhere under root.
func labCorpus(t testing.TB, root string) []labCapture {
	var out []labCapture
	_ = filepath.WalkDir(root, func(path string, de os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() {
			if de.Name() == "classes" { // issue 11's classes: internal/engine TestClasses
				return filepath.SkipDir
			}
			return nil
		}
		base := de.Name()
		if !strings.HasSuffix(base, ".truth.json") && !strings.HasSuffix(base, ".truth.json.gz") {
			return nil
		}
		name := base[:strings.Index(base, ".truth.json")]
		var tj truthJSON
		if err := readJSONMaybeGzip(path, &tj); err != nil {
			t.Errorf("truth %s: %v", path, err)
			return nil
		}
		dir := filepath.Dir(path)
		for _, pt := range []string{"cli", "srv", "mon"} {
			for _, ext := range []string{".pcap.gz", ".pcap"} {
				cp := filepath.Join(dir, name+"."+pt+ext)
				if _, err := os.Stat(cp); err == nil {
					rate := tj.Expect.RateCap
					if rate == 0 {
						rate = tj.Expect.LinkRate
					}
					if tj.Scenario == "applimited" || tj.Scenario == "none" {
						rate = 0
					}
					if tj.Scenario == "delay" && rate == 0 {
						rate = 100e6 // labwire default linkrate for delay
					}
					lc := labCapture{run: name, scenario: tj.Scenario, point: pt, path: cp,
						eval: strings.HasPrefix(name, "eval"), params: tj.Params, rateCap: rate, want: expectedVerdict(&tj)}
					for _, c := range tj.Connections {
						if ap, err := netip.ParseAddrPort(c.Local); err == nil {
							lc.clients = append(lc.clients, ap)
						}
					}
					out = append(out, lc)
					break
				}
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].run != out[j].run {
			return out[i].run < out[j].run
		}
		return out[i].point < out[j].point
	})
	return out
}

// expectedVerdict is the verdict mirrorscope must give every data flow
// of a lab run, from the run's ground truth. delay is a labwire link
// (rate plus drop-tail FIFO); what it makes depends on the traffic:
//   - one cubic flow that overflows the FIFO (queue drops): it saturates
//     the link alone, a rate limit that queues, so shaper ("shaper covers
//     any rate limit that queues");
//   - several flows (iperf3 -P) keeping the FIFO full together: each
//     gets a variable share and loses at the shared queue, so congestion;
//   - a transfer that ended in slow start with no FIFO drop, no
//     retransmission and under half the link rate: nothing limited it,
//     so unconstrained.
func expectedVerdict(tj *truthJSON) string {
	switch tj.Scenario {
	case "shaper", "shaper+delay", "shaper_delay":
		return VerdictShaper
	case "delay":
		if len(tj.Connections) > 1 {
			// several flows through one saturated FIFO: since issue 11
			// one shared limiter at the link rate (SharedLimiters), named
			// shaper like the single flow that fills a FIFO below; it was
			// congestion per flow before
			return VerdictShaper
		}
		drops := 0
		if tj.Counters.Labwire != nil {
			for _, d := range tj.Counters.Labwire.Directions {
				drops += d.Stats.DropQueue
			}
		}
		if up := tj.Iperf3.Up; drops == 0 && up != nil && up.Retransmits == 0 && tj.Expect.LinkRate > 0 && up.ReceiverBps < 0.5*tj.Expect.LinkRate {
			return VerdictUnconstrained
		}
		return VerdictShaper
	case "policer":
		return VerdictPolicer
	case "loss":
		return VerdictRandomLoss
	case "reorder":
		return VerdictReordering
	case "rwnd":
		return VerdictReceiverWindow
	case "applimited":
		return VerdictApplication
	case "none":
		return VerdictUnconstrained
	}
	return ""
}

// rateBound is the allowed relative rate error for a verdict, 0 = no
// rate asserted.
func rateBound(verdict string) float64 {
	switch verdict {
	case VerdictShaper:
		return 0.05
	case VerdictPolicer:
		return 0.10
	}
	return 0
}
