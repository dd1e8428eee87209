package listen

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorscope/mirrorscope/internal/engine"
	"github.com/mirrorscope/mirrorscope/internal/result"
)

// Config configures a Listener. Start from DefaultConfig.
type Config struct {
	// VXLAN is the ADDR:PORT of the VXLAN listener ("" = off; port 0
	// picks a free port, see Listener.VXLANAddr).
	VXLAN string
	// GENEVE is the ADDR:PORT of the GENEVE (GWLB) listener; "" = off.
	GENEVE string
	// ERSPAN is the address (no port: GRE has none) of the GRE listener
	// for ERSPAN I/II/III and GRE mirror streams (IP protocol 47, a raw
	// socket: CAP_NET_RAW); "" = off. An IPv6 address receives GRE over
	// IPv6. One socket, read and analysed by one goroutine (see
	// capture.GRE).
	ERSPAN string
	// GREUDP is the ADDR:PORT of the GRE-over-UDP listener (RFC 8086,
	// port 4754; ERSPAN or GRE inside); "" = off. One socket.
	GREUDP string
	// Iface, when set, captures frames from this interface with AF_PACKET
	// instead of listening for mirror datagrams (VXLAN/GENEVE are off).
	Iface string

	// Sockets is the number of SO_REUSEPORT sockets per listener (and of
	// receiving goroutines).
	Sockets int
	// Batch is the most datagrams read per recvmmsg call.
	Batch int
	// GRO receives with UDP GRO (capture.ListenConfig.GRO): bursts of
	// one outer 4-tuple arrive coalesced, one receive for many
	// datagrams, at the price of one shared timestamp per burst and,
	// behind a NIC, order between 4-tuples only within its bursts.
	GRO bool
	// RcvBuf is the receive buffer asked for each socket, in bytes.
	RcvBuf int
	// Shards is the number of analysing engines. 0 (the default) gives
	// one per receiving socket, and when the kernel steers each
	// connection to one socket (symmetric steering, or one socket) every
	// receiving goroutine analyses what it reads itself: no queue, no
	// copy of the decoded packet, no hand-over between goroutines. A
	// number > 0 (or --iface) runs that many engines on their own
	// goroutines, fed by the receivers over queues.
	Shards int
	// QueueDepth is the number of batches queued per shard.
	QueueDepth int

	// Engine configures each shard's engine. OnFlowEnd is set by the
	// listener (ended flows go to Out).
	Engine engine.Config

	// AllowSrc, when not empty, accepts mirror traffic only from outer
	// sources in these prefixes; AllowVNI only these VNIs.
	AllowSrc []netip.Prefix
	AllowVNI []uint32

	// ReportInterval is how often flows still open are reported (as
	// "interim" flow lines) once they are at least that old; 0 = never.
	ReportInterval time.Duration
	// ExpireInterval is how often idle flows are ended without traffic.
	ExpireInterval time.Duration
	// FlushInterval is how often Out is flushed.
	FlushInterval time.Duration

	// MaxSessions bounds the session registry; beyond it traffic is
	// counted in one overflow session.
	MaxSessions int
	// RecentFlows and RecentFindings bound what /api keeps of the past.
	RecentFlows    int
	RecentFindings int

	// Out receives the JSON lines. Each Write is one whole line; if it
	// implements Flush() error it is flushed every FlushInterval and at
	// the end. nil discards them.
	Out LineWriter

	// Pcap, when Dir is set, writes the received traffic decapsulated.
	Pcap PcapConfig

	// HTTP is the ADDR:PORT of the HTTP server (/metrics, /healthz,
	// /api/*); "" = off.
	HTTP string
	// HTTPAllowHosts are further Host header names the HTTP server
	// answers (--http-allow-host). It always answers IP literals and
	// "localhost"; any other name gets 421, so a web page that rebinds
	// its DNS name to 127.0.0.1 cannot read the API.
	HTTPAllowHosts []string
	// Live, when set, is served at "/" (the live page); otherwise "/"
	// lists the endpoints.
	Live http.Handler
	// Routes are further HTTP handlers by ServeMux pattern (the live
	// page's chart series).
	Routes map[string]http.Handler
	// PacketHook, when set, returns shard i's engine.Config.OnPacket (the
	// live page's chart collector). It runs on the shard's goroutine.
	PacketHook func(shard int) func(*result.PacketEvent)

	// Taps see every record written to Out, and the session counters
	// every TapInterval (internal/listen/tap.go). Run closes them.
	Taps        []Tap
	TapInterval time.Duration
	// Health checks run on each /healthz request (a publisher's broker
	// connection): any error makes /healthz answer 503 "degraded: ...".
	Health []func() error
	// HalfFlows tunes the half-flow finding (halfflow.go).
	HalfFlows HalfFlowConfig
	// Collectors are registered on /metrics with the listener's own.
	Collectors []prometheus.Collector

	Logger *slog.Logger
}

// LineWriter receives whole JSON lines.
type LineWriter interface {
	Write(line []byte) (int, error)
}

// PcapConfig configures --write-pcap.
type PcapConfig struct {
	Dir string
	// Snaplen is the most bytes kept of each inner frame (0 = no limit
	// beyond the cut below).
	Snaplen int
	// KeepPayload keeps what follows the innermost transport header.
	// Without it (the default) every IP frame is cut after its TCP header
	// (options included), UDP or ICMP header, or after the IP header of a
	// fragment: mirrored payload is sensitive. The original length is
	// kept either way.
	KeepPayload bool
	// RotateSize starts a new file past this many bytes (0 = never).
	RotateSize int64
	// RotateInterval starts a new file this often (0 = never).
	RotateInterval time.Duration
}

// DefaultConfig returns the defaults of mirrorscope listen.
func DefaultConfig() Config {
	ec := engine.DefaultConfig()
	ec.MaxReportFlows = 1000
	return Config{
		VXLAN:          "0.0.0.0:4789",
		Sockets:        runtime.NumCPU(),
		Batch:          64,
		RcvBuf:         32 << 20,
		QueueDepth:     16,
		Engine:         ec,
		ReportInterval: 60 * time.Second,
		ExpireInterval: time.Second,
		FlushInterval:  time.Second,
		MaxSessions:    4096,
		RecentFlows:    1000,
		RecentFindings: 200,
		Pcap:           PcapConfig{Snaplen: 128, RotateSize: 100 << 20},
		HTTP:           "127.0.0.1:9180",
		TapInterval:    time.Second,
	}
}

func (c *Config) check() error {
	if c.VXLAN == "" && c.GENEVE == "" && c.ERSPAN == "" && c.GREUDP == "" && c.Iface == "" {
		return fmt.Errorf("listen: nothing to receive: set a VXLAN, GENEVE, ERSPAN or GRE-over-UDP address or an interface")
	}
	if c.Sockets < 1 || c.Sockets > 1024 {
		return fmt.Errorf("listen: sockets %d: want 1..1024", c.Sockets)
	}
	if c.Shards < 0 || c.Shards > 1024 {
		return fmt.Errorf("listen: shards %d: want 1..1024 (0 = one per socket)", c.Shards)
	}
	if c.Batch < 1 || c.Batch > 1024 {
		return fmt.Errorf("listen: batch %d: want 1..1024", c.Batch)
	}
	if c.Pcap.Snaplen < 0 {
		return fmt.Errorf("listen: negative snaplen")
	}
	for _, v := range c.AllowVNI {
		if v > 0xffffff {
			return fmt.Errorf("listen: VNI %d has more than 24 bits", v)
		}
	}
	if c.QueueDepth < 1 {
		c.QueueDepth = 1
	}
	if c.MaxSessions < 1 {
		c.MaxSessions = 1
	}
	if c.ExpireInterval <= 0 {
		c.ExpireInterval = time.Second
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ShardCount is the number of engines New runs for c (with Shards 0:
// one per receiving socket; with --iface, one per CPU).
func (c *Config) ShardCount() int {
	if c.Shards > 0 {
		return c.Shards
	}
	if c.Iface != "" {
		return runtime.NumCPU()
	}
	n := 0
	for _, a := range []string{c.VXLAN, c.GENEVE} {
		if a != "" {
			n += c.Sockets
		}
	}
	for _, a := range []string{c.ERSPAN, c.GREUDP} {
		if a != "" {
			n++ // one socket each
		}
	}
	return max(n, 1)
}

func (c *Config) srcAllowed(a netip.Addr) bool {
	if len(c.AllowSrc) == 0 {
		return true
	}
	for _, p := range c.AllowSrc {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *Config) vniAllowed(v uint32, has bool) bool {
	if len(c.AllowVNI) == 0 {
		return true
	}
	return has && slices.Contains(c.AllowVNI, v)
}

// maxDatagram is the receive buffer per datagram: it holds any UDP
// datagram (and any frame on a 64 KiB-MTU interface), so nothing is ever
// cut by our buffer.
const maxDatagram = 65536

// ifaceRingBlock is the --iface AF_PACKET ring block size; --rcvbuf sets
// the number of blocks.
const ifaceRingBlock = 1 << 20

func formatTS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
