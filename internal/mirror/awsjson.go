package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// The JSON shapes of the AWS CLI (aws ec2 describe-traffic-mirror-filters,
// describe-traffic-mirror-sessions, and the create-* commands, which print
// one object). Unknown fields (Tags, OwnerId, ...) are ignored.

type awsPortRange struct {
	FromPort *int `json:"FromPort"`
	ToPort   *int `json:"ToPort"`
}

type awsRule struct {
	TrafficMirrorFilterRuleID string        `json:"TrafficMirrorFilterRuleId"`
	TrafficMirrorFilterID     string        `json:"TrafficMirrorFilterId"`
	TrafficDirection          string        `json:"TrafficDirection"`
	RuleNumber                *int          `json:"RuleNumber"`
	RuleAction                string        `json:"RuleAction"`
	Protocol                  *int          `json:"Protocol"`
	SourceCidrBlock           string        `json:"SourceCidrBlock"`
	DestinationCidrBlock      string        `json:"DestinationCidrBlock"`
	SourcePortRange           *awsPortRange `json:"SourcePortRange"`
	DestinationPortRange      *awsPortRange `json:"DestinationPortRange"`
	Description               string        `json:"Description"`
}

type awsFilter struct {
	TrafficMirrorFilterID string    `json:"TrafficMirrorFilterId"`
	IngressFilterRules    []awsRule `json:"IngressFilterRules"`
	EgressFilterRules     []awsRule `json:"EgressFilterRules"`
	NetworkServices       []string  `json:"NetworkServices"`
	Description           string    `json:"Description"`
}

type awsSession struct {
	TrafficMirrorSessionID string `json:"TrafficMirrorSessionId"`
	TrafficMirrorTargetID  string `json:"TrafficMirrorTargetId"`
	TrafficMirrorFilterID  string `json:"TrafficMirrorFilterId"`
	NetworkInterfaceID     string `json:"NetworkInterfaceId"`
	PacketLength           *int   `json:"PacketLength"`
	SessionNumber          *int   `json:"SessionNumber"`
	VirtualNetworkID       *int64 `json:"VirtualNetworkId"`
	Description            string `json:"Description"`
}

type awsDoc struct {
	TrafficMirrorFilters     []awsFilter  `json:"TrafficMirrorFilters"`
	TrafficMirrorFilter      *awsFilter   `json:"TrafficMirrorFilter"`
	TrafficMirrorSessions    []awsSession `json:"TrafficMirrorSessions"`
	TrafficMirrorSession     *awsSession  `json:"TrafficMirrorSession"`
	TrafficMirrorFilterRules []awsRule    `json:"TrafficMirrorFilterRules"`
}

// Config is what Load read: filters and sessions. Sessions are sorted by
// (interface, session number) and each points to its filter.
type Config struct {
	Filters  []*Filter
	Sessions Sessions
}

// Filter returns the filter with the given id, or nil.
func (c *Config) Filter(id string) *Filter {
	for _, f := range c.Filters {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// Interfaces returns the distinct NetworkInterfaceIds of the sessions.
func (c *Config) Interfaces() []string {
	var ids []string
	for _, s := range c.Sessions {
		if !slices.Contains(ids, s.ENI) {
			ids = append(ids, s.ENI)
		}
	}
	return ids
}

// SessionsFor returns the sessions of one source interface. With eni
// empty it returns all sessions if they belong to one interface and an
// error naming the interfaces otherwise.
func (c *Config) SessionsFor(eni string) (Sessions, error) {
	if eni == "" {
		ids := c.Interfaces()
		if len(ids) > 1 {
			return nil, fmt.Errorf("sessions for %d interfaces (%s): choose one", len(ids), strings.Join(ids, ", "))
		}
		return c.Sessions, nil
	}
	var out Sessions
	for _, s := range c.Sessions {
		if s.ENI == eni {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no session for interface %s (have %s)", eni, strings.Join(c.Interfaces(), ", "))
	}
	return out, nil
}

// Load reads AWS CLI JSON files (describe-traffic-mirror-filters,
// describe-traffic-mirror-sessions, describe-traffic-mirror-filter-rules,
// or the output of the matching create-* commands; one file may hold
// several of these keys) and returns the validated filters and sessions.
// The filters get the default Amazon DNS resolvers; add the VPC base + 2
// address with Config.SetDNSResolvers.
func Load(paths ...string) (*Config, error) {
	var docs []awsDoc
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("mirror config: %w", err)
		}
		d, err := decodeDoc(b)
		if err != nil {
			return nil, fmt.Errorf("mirror config %s: %w", p, err)
		}
		docs = append(docs, d)
	}
	c, err := build(docs)
	if err != nil {
		return nil, fmt.Errorf("mirror config %s: %w", strings.Join(paths, ", "), err)
	}
	return c, nil
}

// LoadBytes is Load for JSON already in memory.
func LoadBytes(data ...[]byte) (*Config, error) {
	var docs []awsDoc
	for _, b := range data {
		d, err := decodeDoc(b)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return build(docs)
}

// SetDNSResolvers sets every filter's Amazon DNS resolvers to the
// defaults plus extra (the VPC base + 2 address).
func (c *Config) SetDNSResolvers(extra ...netip.Addr) {
	for _, f := range c.Filters {
		f.SetDNSResolvers(extra...)
	}
}

func decodeDoc(b []byte) (awsDoc, error) {
	var d awsDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return d, fmt.Errorf("bad JSON at byte %d: %w", se.Offset, err)
		}
		return d, fmt.Errorf("bad JSON: %w", err)
	}
	if d.TrafficMirrorFilters == nil && d.TrafficMirrorFilter == nil && d.TrafficMirrorSessions == nil &&
		d.TrafficMirrorSession == nil && d.TrafficMirrorFilterRules == nil {
		return d, errors.New("no TrafficMirrorFilters, TrafficMirrorSessions or TrafficMirrorFilterRules key: not AWS CLI traffic mirror JSON")
	}
	return d, nil
}

func build(docs []awsDoc) (*Config, error) {
	c := &Config{}
	var rawSessions []awsSession
	var looseRules []awsRule
	for _, d := range docs {
		fs := d.TrafficMirrorFilters
		if d.TrafficMirrorFilter != nil {
			fs = append(fs, *d.TrafficMirrorFilter)
		}
		for _, af := range fs {
			if af.TrafficMirrorFilterID != "" && c.Filter(af.TrafficMirrorFilterID) != nil {
				return nil, fmt.Errorf("filter %s given twice", af.TrafficMirrorFilterID)
			}
			f := &Filter{ID: af.TrafficMirrorFilterID, Description: af.Description}
			for _, ns := range af.NetworkServices {
				if ns != "amazon-dns" {
					return nil, fmt.Errorf("filter %s: unknown network service %q (AWS knows only amazon-dns)", f.name(), ns)
				}
				f.AmazonDNS = true
			}
			for i, list := range [][]awsRule{af.IngressFilterRules, af.EgressFilterRules} {
				dir := Direction(i)
				for _, ar := range list {
					r, err := ar.rule(dir)
					if err != nil {
						return nil, fmt.Errorf("filter %s: %w", f.name(), err)
					}
					if dir == Egress {
						f.Egress = append(f.Egress, r)
					} else {
						f.Ingress = append(f.Ingress, r)
					}
				}
			}
			c.Filters = append(c.Filters, f)
		}
		looseRules = append(looseRules, d.TrafficMirrorFilterRules...)
		rawSessions = append(rawSessions, d.TrafficMirrorSessions...)
		if d.TrafficMirrorSession != nil {
			rawSessions = append(rawSessions, *d.TrafficMirrorSession)
		}
	}
	// describe-traffic-mirror-filter-rules lists rules with their filter
	// id and direction; attach them to their filter (made if needed).
	for _, ar := range looseRules {
		var dir Direction
		switch ar.TrafficDirection {
		case "ingress":
			dir = Ingress
		case "egress":
			dir = Egress
		default:
			return nil, fmt.Errorf("rule %s: TrafficDirection %q: want ingress or egress", ar.TrafficMirrorFilterRuleID, ar.TrafficDirection)
		}
		r, err := ar.rule(dir)
		if err != nil {
			return nil, err
		}
		f := c.Filter(ar.TrafficMirrorFilterID)
		if f == nil {
			f = &Filter{ID: ar.TrafficMirrorFilterID}
			c.Filters = append(c.Filters, f)
		}
		if dir == Egress {
			f.Egress = append(f.Egress, r)
		} else {
			f.Ingress = append(f.Ingress, r)
		}
	}
	for _, f := range c.Filters {
		f.SetDNSResolvers()
		if err := f.Validate(); err != nil {
			return nil, err
		}
	}
	for _, as := range rawSessions {
		s, err := as.session()
		if err != nil {
			return nil, err
		}
		s.Filter = c.Filter(s.FilterID)
		if s.Filter == nil {
			return nil, fmt.Errorf("session %s: %w: %s (load the describe-traffic-mirror-filters JSON too)", s.name(), ErrNoFilter, s.FilterID)
		}
		c.Sessions = append(c.Sessions, s)
	}
	if err := c.Sessions.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (ar *awsRule) rule(dir Direction) (Rule, error) {
	r := Rule{ID: ar.TrafficMirrorFilterRuleID, Direction: dir, Description: ar.Description}
	if ar.TrafficDirection != "" && ar.TrafficDirection != dir.String() {
		return r, fmt.Errorf("rule %s: TrafficDirection %q in the %s rule list", ar.TrafficMirrorFilterRuleID, ar.TrafficDirection, dir)
	}
	if ar.RuleNumber == nil {
		return r, fmt.Errorf("%s rule %s: no RuleNumber", dir, ar.TrafficMirrorFilterRuleID)
	}
	r.Number = *ar.RuleNumber
	bad := func(format string, a ...any) (Rule, error) {
		return r, &RuleError{dir, r.Number, fmt.Errorf(format, a...)}
	}
	switch ar.RuleAction {
	case "accept":
		r.Action = Accept
	case "reject":
		r.Action = Reject
	default:
		return bad("RuleAction %q: want accept or reject", ar.RuleAction)
	}
	if ar.Protocol != nil {
		if *ar.Protocol < 0 || *ar.Protocol > 255 {
			return bad("Protocol %d out of range 0-255", *ar.Protocol)
		}
		r.HasProto, r.Proto = true, uint8(*ar.Protocol)
	}
	var err error
	if ar.SourceCidrBlock != "" {
		if r.Src, err = parseCIDR(ar.SourceCidrBlock); err != nil {
			return bad("SourceCidrBlock %q: %v", ar.SourceCidrBlock, err)
		}
	}
	if ar.DestinationCidrBlock != "" {
		if r.Dst, err = parseCIDR(ar.DestinationCidrBlock); err != nil {
			return bad("DestinationCidrBlock %q: %v", ar.DestinationCidrBlock, err)
		}
	}
	for _, x := range []struct {
		name string
		in   *awsPortRange
		out  *PortRange
	}{{"SourcePortRange", ar.SourcePortRange, &r.SrcPorts}, {"DestinationPortRange", ar.DestinationPortRange, &r.DstPorts}} {
		if x.in == nil {
			continue
		}
		if x.in.FromPort == nil || x.in.ToPort == nil {
			return bad("%s needs FromPort and ToPort", x.name)
		}
		from, to := *x.in.FromPort, *x.in.ToPort
		if from < 0 || from > 65535 || to < 0 || to > 65535 {
			return bad("%w: %s %d-%d outside 0-65535", ErrPortRange, x.name, from, to)
		}
		*x.out = PortRange{From: uint16(from), To: uint16(to), Set: true}
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}

func (as *awsSession) session() (*Session, error) {
	s := &Session{
		ID: as.TrafficMirrorSessionID, TargetID: as.TrafficMirrorTargetID, FilterID: as.TrafficMirrorFilterID,
		ENI: as.NetworkInterfaceID, Description: as.Description,
	}
	if as.SessionNumber == nil {
		return nil, fmt.Errorf("session %s: no SessionNumber", s.name())
	}
	s.Number = *as.SessionNumber
	if as.PacketLength != nil {
		s.PacketLength = *as.PacketLength
		if s.PacketLength < MinPacketLength || s.PacketLength > MaxPacketLength {
			return nil, fmt.Errorf("session %s: %w: %d", s.name(), ErrPacketLength, s.PacketLength)
		}
	}
	if as.VirtualNetworkID != nil {
		v := *as.VirtualNetworkID
		if v < 0 || v > 1<<24-1 {
			return nil, fmt.Errorf("session %s: %w: %d", s.name(), ErrVNI, v)
		}
		s.VNI, s.HasVNI = uint32(v), true
	}
	if as.TrafficMirrorFilterID == "" {
		return nil, fmt.Errorf("session %s: no TrafficMirrorFilterId", s.name())
	}
	return s, nil
}
