package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Tags put on everything mirrorscope creates: who made it and when it may
// be deleted by 'mirrorscope aws cleanup' (a crashed run's leftovers).
const (
	TagOwner   = "mirrorscope:owner"
	TagExpires = "mirrorscope:expires" // RFC 3339
)

// AWS quotas (not adjustable): docs/aws.md.
const (
	SessionsPerENI       = 3
	RulesPerDirection    = 10
	SourcesPerENITarget  = 10
	maxSessionNumber     = 32766
	defaultExcludeRuleNo = 1
)

// Plan is what Mirror.Setup creates.
type Plan struct {
	// Sources are the ENIs to mirror.
	Sources []string
	// Target: an existing TargetID, or a new target for TargetENI (reused
	// when one exists for that ENI), NLB or GWLB endpoint.
	TargetID, TargetENI, TargetNLB, TargetGWLBE string
	// ExcludeCIDR is the target's own address (/32): rejected first in
	// both directions so that the target's traffic (the mirror stream
	// itself, when a source is the target) is never mirrored.
	ExcludeCIDR string
	// FilterID reuses an existing filter; otherwise one is created with
	// Rules (default: all TCP, both directions).
	FilterID string
	Rules    []FilterRule
	// SourcesPerTarget is the target's quota (10; 100 on the largest
	// sizes); 0 means 10. NLB and GWLB targets have none.
	SourcesPerTarget int
	PacketLength     int
	Owner            string
	Expires          time.Time
}

// Resource is something Setup created (and Teardown deletes).
type Resource struct {
	Kind string // session, filter, target
	ID   string
}

// DeleteCommand is the AWS CLI command that deletes r.
func (r Resource) DeleteCommand(region string) string {
	flag := map[string]string{"session": "traffic-mirror-session-id", "filter": "traffic-mirror-filter-id", "target": "traffic-mirror-target-id"}[r.Kind]
	return fmt.Sprintf("aws ec2 delete-traffic-mirror-%s --%s %s --region %s", r.Kind, flag, r.ID, region)
}

// Leftover is a resource Teardown could not delete.
type Leftover struct {
	Resource
	Err error
}

// Setup is what Mirror.Setup made or reused.
type Setup struct {
	TargetID, FilterID string
	Sessions           []MirrorSession
}

// Mirror creates mirroring resources and deletes them again. It records
// each resource as soon as AWS returns its id, so Teardown deletes exactly
// what this run created, whatever step failed or was interrupted.
type Mirror struct {
	c       *Client
	log     *slog.Logger
	created []Resource
	// Step, when set, is called before each creating call with its name
	// (tests cancel the context at each step).
	Step func(name string)
}

// NewMirror returns a Mirror using c.
func NewMirror(c *Client, log *slog.Logger) *Mirror {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mirror{c: c, log: log}
}

// Created lists what this Mirror created, in creation order.
func (m *Mirror) Created() []Resource { return append([]Resource(nil), m.created...) }

// step runs the test hook, then stops if ctx is done: interruption is
// honoured between calls, never inside a creating call, whose resource
// would then exist without its id being known (see Setup).
func (m *Mirror) step(ctx context.Context, name string) error {
	if m.Step != nil {
		m.Step(name)
	}
	return ctx.Err()
}

func (p *Plan) tags() Tags {
	return Tags{{TagOwner, p.Owner}, {TagExpires, p.Expires.UTC().Format(time.RFC3339)}}
}

// DefaultRules mirrors all TCP in both directions.
func DefaultRules() []FilterRule {
	return []FilterRule{
		{Direction: "ingress", Number: 100, Action: "accept", Protocol: 6, SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0", Description: "mirrorscope: all TCP"},
		{Direction: "egress", Number: 100, Action: "accept", Protocol: 6, SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0", Description: "mirrorscope: all TCP"},
	}
}

// filterRules is the rule list of a new filter: the exclusion of the
// target's own address first, then the user's rules (or the default).
func (p *Plan) filterRules() ([]FilterRule, error) {
	rules := p.Rules
	if len(rules) == 0 {
		rules = DefaultRules()
	}
	var out []FilterRule
	if p.ExcludeCIDR != "" {
		out = append(out,
			FilterRule{Direction: "egress", Number: defaultExcludeRuleNo, Action: "reject", SrcCIDR: "0.0.0.0/0", DstCIDR: p.ExcludeCIDR, Description: "mirrorscope: never the target's own traffic"},
			FilterRule{Direction: "ingress", Number: defaultExcludeRuleNo, Action: "reject", SrcCIDR: p.ExcludeCIDR, DstCIDR: "0.0.0.0/0", Description: "mirrorscope: never the target's own traffic"})
	}
	n := map[string]int{}
	for _, r := range out {
		n[r.Direction]++
	}
	for _, r := range rules {
		if p.ExcludeCIDR != "" && r.Number == defaultExcludeRuleNo {
			return nil, fmt.Errorf("rule number %d is reserved for the rule that keeps the target's own traffic out of the mirror: number your rules from 2", defaultExcludeRuleNo)
		}
		n[r.Direction]++
		out = append(out, r)
	}
	for d, k := range n {
		if k > RulesPerDirection {
			return nil, fmt.Errorf("%d %s rules: a mirror filter holds at most %d per direction (AWS quota)", k, d, RulesPerDirection)
		}
	}
	return out, nil
}

// Setup creates (or reuses) the target, the filter and one session per
// source. On error, what was created is in Created: call Teardown.
func (m *Mirror) Setup(ctx context.Context, p Plan) (*Setup, error) {
	rules, err := p.filterRules()
	if err != nil {
		return nil, err
	}
	// Quotas first, before anything is created.
	used := map[string][]int{}
	for _, src := range p.Sources {
		ss, err := m.c.DescribeSessions(ctx, Filter{"network-interface-id", []string{src}})
		if err != nil {
			return nil, fmt.Errorf("listing the mirror sessions of %s: %w", src, err)
		}
		if len(ss) >= SessionsPerENI {
			var ids []string
			for _, s := range ss {
				ids = append(ids, s.ID)
			}
			return nil, fmt.Errorf("%s already has %d mirror sessions (%s), the AWS quota per source ENI: delete one, or mirror another ENI", src, len(ss), strings.Join(ids, ", "))
		}
		for _, s := range ss {
			used[src] = append(used[src], s.SessionNumber)
		}
	}
	out := &Setup{TargetID: p.TargetID}
	eniTarget := p.TargetNLB == "" && p.TargetGWLBE == ""
	if p.TargetID != "" {
		ts, err := m.c.DescribeTargets(ctx, Filter{"traffic-mirror-target-id", []string{p.TargetID}})
		if err != nil {
			return nil, fmt.Errorf("looking up mirror target %s: %w", p.TargetID, err)
		}
		if len(ts) != 1 {
			return nil, fmt.Errorf("mirror target %s does not exist", p.TargetID)
		}
		eniTarget = ts[0].NetworkInterfaceID != ""
	}
	if out.TargetID == "" && p.TargetENI != "" {
		ts, err := m.c.DescribeTargets(ctx, Filter{"network-interface-id", []string{p.TargetENI}})
		if err != nil {
			return nil, fmt.Errorf("looking for a mirror target of %s: %w", p.TargetENI, err)
		}
		if len(ts) > 0 {
			out.TargetID = ts[0].ID
			m.log.Info("reusing mirror target", "target", out.TargetID, "eni", p.TargetENI)
		}
	}
	if out.TargetID != "" && eniTarget {
		limit := p.SourcesPerTarget
		if limit == 0 {
			limit = SourcesPerENITarget
		}
		ss, err := m.c.DescribeSessions(ctx, Filter{"traffic-mirror-target-id", []string{out.TargetID}})
		if err != nil {
			return nil, fmt.Errorf("listing the sessions of %s: %w", out.TargetID, err)
		}
		srcs := map[string]bool{}
		for _, s := range ss {
			srcs[s.NetworkInterfaceID] = true
		}
		for _, s := range p.Sources {
			srcs[s] = true
		}
		if len(srcs) > limit {
			return nil, fmt.Errorf("target %s would have %d sources; an ENI target takes at most %d (AWS quota; 100 on the largest instance sizes): use fewer --source, or an NLB target", out.TargetID, len(srcs), limit)
		}
	}
	if out.TargetID == "" && p.TargetENI != "" {
		limit := p.SourcesPerTarget
		if limit == 0 {
			limit = SourcesPerENITarget
		}
		if len(p.Sources) > limit {
			return nil, fmt.Errorf("%d sources; an ENI target takes at most %d (AWS quota; 100 on the largest instance sizes): use fewer --source, or an NLB target", len(p.Sources), limit)
		}
	}
	// Creating calls run to completion even when ctx is cancelled (each
	// is bounded by the HTTP client's timeout): a create cut off after
	// AWS received it would leave a resource whose id we never learn.
	// Cancellation is checked between calls.
	cctx := context.WithoutCancel(ctx)
	if out.TargetID == "" {
		if err := m.step(ctx, "target"); err != nil {
			return out, err
		}
		t, err := m.c.CreateTarget(cctx, TargetSpec{NetworkInterfaceID: p.TargetENI, NetworkLoadBalancer: p.TargetNLB,
			GatewayLBEndpointID: p.TargetGWLBE, Description: "mirrorscope capture", Tags: p.tags()})
		if err != nil {
			return nil, fmt.Errorf("creating the mirror target: %w", err)
		}
		m.created = append(m.created, Resource{"target", t.ID})
		out.TargetID = t.ID
	}
	out.FilterID = p.FilterID
	if out.FilterID == "" {
		if err := m.step(ctx, "filter"); err != nil {
			return out, err
		}
		f, err := m.c.CreateFilter(cctx, "mirrorscope capture", p.tags())
		if err != nil {
			return out, fmt.Errorf("creating the mirror filter: %w", err)
		}
		m.created = append(m.created, Resource{"filter", f.ID})
		out.FilterID = f.ID
		for _, r := range rules {
			if err := m.step(ctx, "rule"); err != nil {
				return out, err
			}
			r.FilterID = f.ID
			if _, err := m.c.CreateFilterRule(cctx, r); err != nil {
				return out, fmt.Errorf("adding %s rule %d to %s: %w", r.Direction, r.Number, f.ID, err)
			}
		}
	}
	for _, src := range p.Sources {
		if err := m.step(ctx, "session"); err != nil {
			return out, err
		}
		num := freeNumber(used[src])
		s, err := m.c.CreateSession(cctx, SessionSpec{NetworkInterfaceID: src, TargetID: out.TargetID, FilterID: out.FilterID,
			SessionNumber: num, PacketLength: p.PacketLength, Description: "mirrorscope capture", Tags: p.tags()})
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && strings.Contains(ae.Code, "LimitExceeded") {
				return out, fmt.Errorf("mirroring %s: an AWS mirroring quota is exhausted (3 sessions per ENI, 10 sources per ENI target): %w", src, err)
			}
			return out, fmt.Errorf("mirroring %s: %w", src, err)
		}
		m.created = append(m.created, Resource{"session", s.ID})
		out.Sessions = append(out.Sessions, *s)
	}
	return out, ctx.Err()
}

// freeNumber is the lowest session number not used on the ENI: the lowest
// number is evaluated first, so ours takes precedence over later ones only
// when it is lower (see the doctor's shadowing check).
func freeNumber(used []int) int {
	for n := 1; n <= maxSessionNumber; n++ {
		free := true
		for _, u := range used {
			free = free && u != n
		}
		if free {
			return n
		}
	}
	return maxSessionNumber
}

// Teardown deletes what this Mirror created, sessions first, then the
// filter, then the target (AWS refuses to delete a filter or target still
// in use). ctx should not be the cancelled run's context: pass a fresh one
// with a timeout. It returns what could not be deleted.
func (m *Mirror) Teardown(ctx context.Context) []Leftover {
	var left []Leftover
	for i := len(m.created) - 1; i >= 0; i-- {
		r := m.created[i]
		var err error
		switch r.Kind {
		case "session":
			err = m.c.DeleteSession(ctx, r.ID)
		case "filter":
			err = m.c.DeleteFilter(ctx, r.ID)
		case "target":
			err = m.c.DeleteTarget(ctx, r.ID)
		}
		var ae *APIError
		if errors.As(err, &ae) && strings.HasSuffix(ae.Code, ".NotFound") {
			err = nil // already gone
		}
		if err != nil {
			left = append(left, Leftover{r, err})
			continue
		}
		m.log.Info("deleted", "kind", r.Kind, "id", r.ID)
	}
	m.created = nil
	for _, l := range left {
		m.created = append([]Resource{l.Resource}, m.created...)
	}
	return left
}

// Cleanup deletes every mirroring resource tagged by mirrorscope whose
// expiry is before now (sessions, then filters, then targets), and returns
// what it deleted and what it could not.
func Cleanup(ctx context.Context, c *Client, now time.Time, log *slog.Logger) (deleted []Resource, left []Leftover, err error) {
	m := NewMirror(c, log)
	expired := func(ts Tags) bool {
		v, ok := ts.Get(TagExpires)
		if !ok {
			return false
		}
		t, err := time.Parse(time.RFC3339, v)
		return err == nil && t.Before(now)
	}
	tagged := Filter{"tag-key", []string{TagExpires}}
	ts, err := c.DescribeTargets(ctx, tagged)
	if err != nil {
		return nil, nil, err
	}
	fs, err := c.DescribeFilters(ctx, tagged)
	if err != nil {
		return nil, nil, err
	}
	ss, err := c.DescribeSessions(ctx, tagged)
	if err != nil {
		return nil, nil, err
	}
	// Created order (targets, filters, sessions) so Teardown deletes in reverse.
	for _, t := range ts {
		if expired(t.Tags) {
			m.created = append(m.created, Resource{"target", t.ID})
		}
	}
	for _, f := range fs {
		if expired(f.Tags) {
			m.created = append(m.created, Resource{"filter", f.ID})
		}
	}
	for _, s := range ss {
		if expired(s.Tags) {
			m.created = append(m.created, Resource{"session", s.ID})
		}
	}
	all := m.Created()
	left = m.Teardown(ctx)
	for _, r := range all {
		gone := true
		for _, l := range left {
			gone = gone && l.ID != r.ID
		}
		if gone {
			deleted = append(deleted, r)
		}
	}
	return deleted, left, nil
}
