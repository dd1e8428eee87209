package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mirrorscope/mirrorscope/internal/capture"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/mirror"
)

// mirrorSpec is the filter/session input shared by `filter` and `mirror`.
type mirrorSpec struct {
	filters   []string
	sessions  []string
	rules     []string
	amazonDNS bool
	resolvers []string
	eniID     string
	filterID  string
}

func (m *mirrorSpec) bind(fs *pflag.FlagSet) {
	fs.StringArrayVar(&m.filters, "filter", nil, "`FILE` of `aws ec2 describe-traffic-mirror-filters` (or create-traffic-mirror-filter / describe-traffic-mirror-filter-rules) JSON; repeatable")
	fs.StringArrayVar(&m.sessions, "session", nil, "`FILE` of `aws ec2 describe-traffic-mirror-sessions` JSON (sessions give priority, VNI and PacketLength); repeatable")
	fs.StringArrayVar(&m.rules, "rule", nil, "a filter rule in short form, e.g. 'ingress 100 accept tcp dst-port 443'; repeatable (see --help)")
	fs.BoolVar(&m.amazonDNS, "amazon-dns", false, "add the amazon-dns network service to the --rule filter")
	fs.StringArrayVar(&m.resolvers, "dns-resolver", nil, "extra Amazon DNS resolver `IP` (the VPC base + 2 address); 169.254.169.253 and fd00:ec2::253 are always included")
	fs.StringVar(&m.eniID, "eni-id", "", "use the sessions of this NetworkInterfaceId when the session JSON has several")
	fs.StringVar(&m.filterID, "filter-id", "", "use this TrafficMirrorFilterId when the filter JSON has several and no session is given")
}

func (m *mirrorSpec) given() bool { return len(m.filters)+len(m.sessions)+len(m.rules) > 0 }

// load returns the sessions of one source interface. Errors are usage
// errors (bad input).
func (m *mirrorSpec) load() (mirror.Sessions, error) {
	var extra []netip.Addr
	for _, s := range m.resolvers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usageErr("--dns-resolver %q: not an IP address", s)
		}
		extra = append(extra, a.Unmap())
	}
	if len(m.rules) > 0 {
		if len(m.filters)+len(m.sessions) > 0 {
			return nil, usageErr("--rule cannot be combined with --filter or --session: give the rules in one place")
		}
		f, err := mirror.ParseRules(m.rules, m.amazonDNS, extra...)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return mirror.SingleFilter(f), nil
	}
	if len(m.filters) == 0 {
		return nil, usageErr("give the filter: --filter FILE (AWS CLI JSON) or --rule '...' (repeatable)")
	}
	if m.amazonDNS {
		return nil, usageErr("--amazon-dns applies to --rule; a JSON filter lists amazon-dns in NetworkServices")
	}
	c, err := mirror.Load(append(append([]string{}, m.filters...), m.sessions...)...)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	c.SetDNSResolvers(extra...)
	if len(c.Sessions) > 0 {
		if m.filterID != "" {
			return nil, usageErr("--filter-id applies without sessions; with sessions, each session names its filter")
		}
		ss, err := c.SessionsFor(m.eniID)
		if err != nil {
			return nil, usageErr("%v (use --eni-id)", err)
		}
		return ss, nil
	}
	if len(m.sessions) > 0 {
		return nil, usageErr("the --session files hold no session")
	}
	if m.filterID != "" {
		f := c.Filter(m.filterID)
		if f == nil {
			return nil, usageErr("--filter-id %s: no such filter in %s", m.filterID, strings.Join(m.filters, ", "))
		}
		return mirror.SingleFilter(f), nil
	}
	if len(c.Filters) != 1 {
		ids := make([]string, len(c.Filters))
		for i, f := range c.Filters {
			ids[i] = f.ID
		}
		return nil, usageErr("%d filters (%s): choose one with --filter-id or give --session", len(c.Filters), strings.Join(ids, ", "))
	}
	return mirror.SingleFilter(c.Filters[0]), nil
}

func parseAddrs(flag string, ss []string) (mirror.Addrs, error) {
	var out mirror.Addrs
	for _, s := range ss {
		for _, part := range strings.Split(s, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return nil, usageErr("%s %q: not an IP address", flag, part)
			}
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

func newFilterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "filter",
		Short: "Check AWS traffic mirror filter rules and see their effect on a capture",
		Long: `Work with AWS VPC Traffic Mirroring filters before traffic arrives.

Filters come from the JSON the AWS CLI prints (aws ec2
describe-traffic-mirror-filters, describe-traffic-mirror-sessions) or from
--rule in short form:

  ` + strings.ReplaceAll(mirror.RuleGrammar, "\n", "\n  ") + `

Semantics are AWS's: rules per direction (relative to the source interface)
by ascending rule number, the first match decides, no match is not
mirrored, a direction without rules mirrors nothing; with several sessions
the lowest session number whose filter accepts a packet mirrors it, once.
ARP, DHCP, IMDS, NTP (Amazon Time Sync), Windows activation and Amazon DNS
(unless amazon-dns) are never mirrored.`,
	}
	cmd.AddCommand(newFilterTestCmd(), newFilterCheckCmd())
	return cmd
}

func newFilterCheckCmd() *cobra.Command {
	var spec mirrorSpec
	cmd := &cobra.Command{
		Use:   "check [flags]",
		Short: "Validate filters and sessions and print the rules in evaluation order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ss, err := spec.load()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, s := range ss {
				fmt.Fprintf(w, "session %d", s.Number)
				if s.ID != "" {
					fmt.Fprintf(w, " %s", s.ID)
				}
				if s.FilterID != "" {
					fmt.Fprintf(w, " filter %s", s.FilterID)
				}
				if s.HasVNI {
					fmt.Fprintf(w, " vni %d", s.VNI)
				}
				if s.PacketLength > 0 {
					fmt.Fprintf(w, " packet-length %d", s.PacketLength)
				}
				fmt.Fprintln(w)
				for _, d := range []mirror.Direction{mirror.Ingress, mirror.Egress} {
					rules := s.Filter.Rules(d)
					if len(rules) == 0 {
						fmt.Fprintf(w, "  %s: no rules, nothing of this direction is mirrored\n", d)
					}
					for _, r := range rules {
						fmt.Fprintf(w, "  %s\n", r.String())
					}
				}
				if s.Filter.AmazonDNS {
					fmt.Fprintln(w, "  network service amazon-dns")
				}
			}
			return nil
		},
	}
	spec.bind(cmd.Flags())
	return cmd
}

func newFilterTestCmd() *cobra.Command {
	var (
		spec    mirrorSpec
		eniIPs  []string
		format  string
		flows   int
		packets bool
		decap   bool
		vnis    []uint
	)
	cmd := &cobra.Command{
		Use:   "test [flags] CAPTURE...",
		Short: "Show what a filter would mirror from a capture taken on the source interface",
		Long: `Replay captures taken on the source interface (pcap or pcapng, optionally
gzip) through the filter, or through the sessions of one interface, and
report per rule and direction the packets, bytes and flows it accepts or
rejects (each filter evaluated alone), the packets no rule matches, the
packets AWS never mirrors, what each session finally mirrors by session
priority, and the bandwidth mirroring adds to the source: per mirrored
packet its inner Ethernet frame (14 + IP length, cut to PacketLength) plus
54 bytes of VXLAN overhead (74 when the interface address is IPv6).

Direction is relative to the source interface: a packet to one of its
addresses is ingress, from one is egress. Give the addresses with
--eni-ip; without it the address present in the most packets is taken
(on a host's interface each peer appears only in its own flows), and a
tie (a capture of one conversation) is an error that asks for --eni-ip.
A capture of a mirror stream (VXLAN/GENEVE datagrams) is tested with
--decap, and --vni to pick one session; without --decap it is refused.`,
		Example: `  mirrorscope filter test --rule 'ingress 100 accept tcp dst-port 5201' --eni-ip 198.18.0.2 srv.pcap
  mirrorscope filter test --filter filters.json --session sessions.json --format json capture.pcapng.gz`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("filter test needs at least one capture file (or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usageErr("--format %q: want text or json", format)
			}
			ss, err := spec.load()
			if err != nil {
				return err
			}
			addrs, err := parseAddrs("--eni-ip", eniIPs)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			opt := mirror.TestOptions{Addrs: addrs, Decap: decap, TopFlows: flows}
			if len(vnis) > 0 && !decap {
				return usageErr("--vni selects a mirror session of a mirror-stream capture: give --decap too")
			}
			for _, v := range vnis {
				if v > 0xffffff {
					return usageErr("--vni %d: a VNI has 24 bits (at most 16777215)", v)
				}
				opt.VNIs = append(opt.VNIs, uint32(v))
			}
			if packets {
				opt.OnPacket = func(p *decode.Packet, d mirror.Decision) {
					fmt.Fprintln(w, packetLine(p, d))
				}
			}
			rep, err := mirror.TestCaptures(args, ss, opt)
			if err != nil {
				var ce *capture.Error
				if errors.Is(err, mirror.ErrAmbiguousENI) {
					return usageErr("%v with --eni-ip", err)
				}
				if errors.Is(err, mirror.ErrMirrorCapture) || errors.Is(err, mirror.ErrNoSuchVNI) {
					return usageErr("%v", err)
				}
				if errors.As(err, &ce) {
					return &exitError{code: exitUsage, err: err}
				}
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteText(w)
		},
	}
	spec.bind(cmd.Flags())
	cmd.Flags().StringArrayVar(&eniIPs, "eni-ip", nil, "the source interface's `IP` address(es) (comma-separated or repeated); default: the busiest address")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().IntVar(&flows, "flows", 5, "flows listed per rule (-1: all)")
	cmd.Flags().BoolVar(&packets, "packets", false, "print one line per packet with its direction and verdict before the report")
	cmd.Flags().BoolVar(&decap, "decap", false, "the captures are of a mirror stream (VXLAN/GENEVE): decapsulate, and take the direction from the outer source unless --eni-ip")
	cmd.Flags().UintSliceVar(&vnis, "vni", nil, "with --decap: test only the mirror sessions with these VNIs (repeat or comma-separate)")
	return cmd
}

// packetLine renders one per-packet verdict: frame, direction, session,
// outcome, rule, 5-tuple.
func packetLine(p *decode.Packet, d mirror.Decision) string {
	dir := "-"
	if d.DirKnown {
		dir = d.Dir.String()
	}
	sess := "-"
	if d.Session != nil {
		sess = fmt.Sprint(d.Session.Number)
	}
	rule := "-"
	if d.Verdict.Rule != nil {
		rule = fmt.Sprint(d.Verdict.Rule.Number)
	}
	out := d.Verdict.Outcome.String()
	if d.Verdict.Outcome == mirror.Never {
		out = "never mirrored by AWS: " + d.Verdict.Reason.String()
	} else if !d.DirKnown {
		out = "not the interface's traffic"
	}
	tuple := "non-IP"
	if p.IPVersion != 0 {
		k := mirror.FlowKey{Src: p.Src, Dst: p.Dst, Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
		tuple = k.String()
	}
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%d\t%s", d.Frame, dir, sess, rule, out, d.Len, tuple)
}
