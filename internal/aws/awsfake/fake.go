package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Instance is an instance the fake knows (DescribeInstances, IMDS).
type Instance struct {
	ID, Type, Region, ENI, MAC, IP, Subnet string
	// Groups are the ENI's security groups.
	Groups []string
	// InterfaceType is the ENI's type ("" = interface;
	// gateway_load_balancer for a GWLB's own ENI).
	InterfaceType string
}

// Perm is an inbound security group rule.
type Perm struct {
	Protocol         string `xml:"ipProtocol"` // "udp", "-1", ...
	FromPort, ToPort int
	CIDRs            []string
	Groups           []string
}

// TargetGroup is an ELBv2 target group of a load balancer.
type TargetGroup struct {
	LoadBalancerARN, ARN, Name, Protocol string
	Port                                 int
	HealthCheckProtocol, HealthCheckPort string
	HealthCheckPath                      string
	Attributes                           map[string]string
	// Health: target id -> state ("healthy", "unhealthy") and reason.
	Health map[string][2]string
}

// ACLEntry is a network ACL entry.
type ACLEntry struct {
	Number   int
	Protocol string // "-1", "17", "6"
	Allow    bool
	Egress   bool
	CIDR     string
	From, To int // port range (UDP/TCP)
}

// Fake is the fake AWS. Create with New; Close stops it.
type Fake struct {
	srv *httptest.Server

	mu        sync.Mutex
	self      Instance
	instances []Instance
	targets   map[string]*target
	filters   map[string]*filter
	sessions  map[string]*session
	seq       int
	calls     []string
	fail      map[string]string
	throttle  map[string]int
	metrics   map[string][]Point // "Namespace/MetricName" -> points
	sgs       map[string][]Perm
	acls      map[string][]ACLEntry // by subnet
	types     map[string][2]string  // type -> hypervisor, bareMetal
	tgs       []TargetGroup
	// SessionsPerENI and SourcesPerTarget are the quotas enforced.
	SessionsPerENI, SourcesPerTarget int
	unsigned                         int
	// OnCall, when set before any request, is called with each action
	// as it arrives, before it is handled (tests interrupt the client
	// while a call is in flight).
	OnCall func(action string)
}

// Point is one CloudWatch datapoint.
type Point struct {
	Time  string // RFC 3339
	Value float64
}

type tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type target struct {
	ID    string `xml:"trafficMirrorTargetId"`
	ENI   string `xml:"networkInterfaceId,omitempty"`
	NLB   string `xml:"networkLoadBalancerArn,omitempty"`
	GWLBE string `xml:"gatewayLoadBalancerEndpointId,omitempty"`
	Type  string `xml:"type"`
	Desc  string `xml:"description,omitempty"`
	Owner string `xml:"ownerId"`
	Tags  []tag  `xml:"tagSet>item"`
}

type portRange struct {
	From int `xml:"fromPort"`
	To   int `xml:"toPort"`
}

type rule struct {
	XMLName  xml.Name   `xml:"item"`
	ID       string     `xml:"trafficMirrorFilterRuleId"`
	FilterID string     `xml:"trafficMirrorFilterId"`
	Dir      string     `xml:"trafficDirection"`
	Number   int        `xml:"ruleNumber"`
	Action   string     `xml:"ruleAction"`
	Protocol int        `xml:"protocol,omitempty"`
	Dst      *portRange `xml:"destinationPortRange,omitempty"`
	Src      *portRange `xml:"sourcePortRange,omitempty"`
	DstCIDR  string     `xml:"destinationCidrBlock"`
	SrcCIDR  string     `xml:"sourceCidrBlock"`
	Desc     string     `xml:"description,omitempty"`
}

type filter struct {
	ID      string  `xml:"trafficMirrorFilterId"`
	Desc    string  `xml:"description,omitempty"`
	Ingress []*rule `xml:"ingressFilterRuleSet>item"`
	Egress  []*rule `xml:"egressFilterRuleSet>item"`
	Tags    []tag   `xml:"tagSet>item"`
}

type session struct {
	ID     string `xml:"trafficMirrorSessionId"`
	Target string `xml:"trafficMirrorTargetId"`
	Filter string `xml:"trafficMirrorFilterId"`
	ENI    string `xml:"networkInterfaceId"`
	Owner  string `xml:"ownerId"`
	PktLen int    `xml:"packetLength,omitempty"`
	Number int    `xml:"sessionNumber"`
	VNI    int    `xml:"virtualNetworkId"`
	Desc   string `xml:"description,omitempty"`
	Tags   []tag  `xml:"tagSet>item"`
}

// New starts a fake whose IMDS describes self; other instances can be
// added with AddInstance.
func New(self Instance) *Fake {
	f := &Fake{
		self: self, instances: []Instance{self},
		targets: map[string]*target{}, filters: map[string]*filter{}, sessions: map[string]*session{},
		fail: map[string]string{}, throttle: map[string]int{}, metrics: map[string][]Point{},
		SessionsPerENI: 3, SourcesPerTarget: 10,
		sgs: map[string][]Perm{}, acls: map[string][]ACLEntry{}, types: map[string][2]string{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// URL is the base URL of every service (EC2, CloudWatch, IMDS).
func (f *Fake) URL() string { return f.srv.URL }

// Close stops the server.
func (f *Fake) Close() { f.srv.Close() }

// AddInstance adds an instance (a mirror source).
func (f *Fake) AddInstance(in Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances = append(f.instances, in)
}

// SetSecurityGroup sets a group's inbound rules.
func (f *Fake) SetSecurityGroup(id string, perms ...Perm) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sgs[id] = perms
}

// SetACL sets the network ACL entries of a subnet.
func (f *Fake) SetACL(subnet string, entries ...ACLEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acls[subnet] = entries
}

// AddTargetGroup adds an ELBv2 target group.
func (f *Fake) AddTargetGroup(tg TargetGroup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tgs = append(f.tgs, tg)
}

// AddTarget creates a mirror target directly (an NLB or GWLB endpoint
// target for doctor tests) and returns its id.
func (f *Fake) AddTarget(eni, nlbARN string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &target{ID: f.id("tmt"), ENI: eni, NLB: nlbARN, Owner: "123456789012", Type: "network-interface"}
	if nlbARN != "" {
		t.Type = "network-load-balancer"
	}
	f.targets[t.ID] = t
	return t.ID
}

// SetInstanceType sets what DescribeInstanceTypes says of a type
// (default: nitro, not bare metal).
func (f *Fake) SetInstanceType(typ, hypervisor string, bareMetal bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.types[typ] = [2]string{hypervisor, strconv.FormatBool(bareMetal)}
}

// Fail makes every later call of action fail with code (HTTP 400); an
// empty code clears it.
func (f *Fake) Fail(action, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == "" {
		delete(f.fail, action)
		return
	}
	f.fail[action] = code
}

// Throttle makes the next n calls of action fail with RequestLimitExceeded.
func (f *Fake) Throttle(action string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle[action] = n
}

// SetMetric sets the datapoints GetMetricData returns for
// namespace/metric (any dimensions).
func (f *Fake) SetMetric(namespace, metric string, pts ...Point) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metrics[namespace+"/"+metric] = pts
}

// Calls returns every action called, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Unsigned counts API requests without a SigV4 Authorization header.
func (f *Fake) Unsigned() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unsigned
}

// State lists the mirroring resources that exist, sorted: the test of
// "nothing left behind" is that it is empty.
func (f *Fake) State() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for id := range f.targets {
		s = append(s, id)
	}
	for id, fl := range f.filters {
		s = append(s, id)
		for _, r := range append(slices.Clone(fl.Ingress), fl.Egress...) {
			s = append(s, r.ID)
		}
	}
	for id := range f.sessions {
		s = append(s, id)
	}
	sort.Strings(s)
	return s
}

// SetTag sets a tag on an existing resource (tests age resources).
func (f *Fake) SetTag(id, key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := func(ts *[]tag) {
		for i := range *ts {
			if (*ts)[i].Key == key {
				(*ts)[i].Value = value
				return
			}
		}
		*ts = append(*ts, tag{key, value})
	}
	if t, ok := f.targets[id]; ok {
		set(&t.Tags)
	}
	if t, ok := f.filters[id]; ok {
		set(&t.Tags)
	}
	if t, ok := f.sessions[id]; ok {
		set(&t.Tags)
	}
}

// AddSession creates a session directly (pre-existing state for quota
// tests) and returns its id.
func (f *Fake) AddSession(eni, targetID, filterID string, number int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id("tms")
	f.sessions[id] = &session{ID: id, ENI: eni, Target: targetID, Filter: filterID, Number: number, Owner: "123456789012"}
	return id
}

func (f *Fake) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%017x", prefix, f.seq)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/latest/") {
		f.imds(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	version := r.PostForm.Get("Version")
	if f.OnCall != nil {
		f.OnCall(action)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, action)
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.unsigned++
	}
	ec2 := version == "2016-11-15"
	if code := f.fail[action]; code != "" {
		f.error(w, ec2, http.StatusBadRequest, code, "injected failure of "+action)
		return
	}
	if f.throttle[action] > 0 {
		f.throttle[action]--
		code := "RequestLimitExceeded"
		if !ec2 {
			code = "Throttling"
		}
		f.error(w, ec2, http.StatusServiceUnavailable, code, "Request limit exceeded.")
		return
	}
	h, ok := map[string]func(p form) (any, *apiErr){
		"CreateTrafficMirrorTarget":     f.createTarget,
		"CreateTrafficMirrorFilter":     f.createFilter,
		"CreateTrafficMirrorFilterRule": f.createRule,
		"CreateTrafficMirrorSession":    f.createSession,
		"DeleteTrafficMirrorSession":    f.deleteSession,
		"DeleteTrafficMirrorFilter":     f.deleteFilter,
		"DeleteTrafficMirrorTarget":     f.deleteTarget,
		"DescribeTrafficMirrorSessions": f.describeSessions,
		"DescribeTrafficMirrorTargets":  f.describeTargets,
		"DescribeTrafficMirrorFilters":  f.describeFilters,
		"DescribeInstances":             f.describeInstances,
		"DescribeNetworkInterfaces":     f.describeENIs,
		"DescribeInstanceTypes":         f.describeTypes,
		"DescribeSecurityGroups":        f.describeSGs,
		"DescribeNetworkAcls":           f.describeACLs,
		"GetMetricData":                 f.getMetricData,
		"DescribeTargetGroups":          f.describeTGs,
		"DescribeTargetGroupAttributes": f.describeTGAttrs,
		"DescribeTargetHealth":          f.describeTGHealth,
	}[action]
	if !ok {
		f.error(w, ec2, http.StatusBadRequest, "InvalidAction", "the fake does not implement "+action)
		return
	}
	out, aerr := h(form(r.PostForm))
	if aerr != nil {
		f.error(w, ec2, http.StatusBadRequest, aerr.code, aerr.msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	b, err := xml.Marshal(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write([]byte(xml.Header))
	w.Write(b)
}

type apiErr struct{ code, msg string }

func (f *Fake) error(w http.ResponseWriter, ec2 bool, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	var b strings.Builder
	if ec2 {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>`)
		xml.EscapeText(&b, []byte(code))
		b.WriteString(`</Code><Message>`)
		xml.EscapeText(&b, []byte(msg))
		b.WriteString(`</Message></Error></Errors><RequestID>fake-request</RequestID></Response>`)
	} else {
		b.WriteString(`<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>`)
		xml.EscapeText(&b, []byte(code))
		b.WriteString(`</Code><Message>`)
		xml.EscapeText(&b, []byte(msg))
		b.WriteString(`</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`)
	}
	w.Write([]byte(b.String()))
}

type form map[string][]string

func (p form) get(k string) string {
	if v := p[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p form) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v := p.get(prefix + "." + strconv.Itoa(i))
		if v == "" {
			return out
		}
		out = append(out, v)
	}
}

func (p form) tags() []tag {
	var ts []tag
	for i := 1; ; i++ {
		k := p.get(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i))
		if k == "" {
			return ts
		}
		ts = append(ts, tag{k, p.get(fmt.Sprintf("TagSpecification.1.Tag.%d.Value", i))})
	}
}

// filters returns the Filter.N.Name -> values of a Describe call.
func (p form) filters() map[string][]string {
	m := map[string][]string{}
	for i := 1; ; i++ {
		n := p.get(fmt.Sprintf("Filter.%d.Name", i))
		if n == "" {
			return m
		}
		m[n] = p.list(fmt.Sprintf("Filter.%d.Value", i))
	}
}

func match(fs map[string][]string, name, value string, tags []tag) bool {
	for n, vs := range fs {
		switch {
		case n == name:
			if !slices.Contains(vs, value) {
				return false
			}
		case n == "tag-key":
			found := false
			for _, t := range tags {
				found = found || slices.Contains(vs, t.Key)
			}
			if !found {
				return false
			}
		}
	}
	return true
}

type response struct {
	XMLName xml.Name
	Xmlns   string `xml:"xmlns,attr"`
	Request string `xml:"requestId"`
	Body    string `xml:",innerxml"`
}

// resp wraps body's fields in the <ActionResponse> element.
func resp(name string, body any) any {
	b, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"x"`
		Body    any
	}{Body: body})
	inner := strings.TrimSuffix(strings.TrimPrefix(string(b), "<x><Body>"), "</Body></x>")
	if err != nil {
		inner = ""
	}
	return &response{XMLName: xml.Name{Local: name}, Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", Request: "fake-request", Body: inner}
}

func (f *Fake) createTarget(p form) (any, *apiErr) {
	t := &target{ID: f.id("tmt"), ENI: p.get("NetworkInterfaceId"), NLB: p.get("NetworkLoadBalancerArn"),
		GWLBE: p.get("GatewayLoadBalancerEndpointId"), Desc: p.get("Description"), Owner: "123456789012", Tags: p.tags()}
	switch {
	case t.ENI != "":
		t.Type = "network-interface"
	case t.NLB != "":
		t.Type = "network-load-balancer"
	case t.GWLBE != "":
		t.Type = "gateway-load-balancer-endpoint"
	default:
		return nil, &apiErr{"MissingParameter", "one of NetworkInterfaceId, NetworkLoadBalancerArn, GatewayLoadBalancerEndpointId is required"}
	}
	f.targets[t.ID] = t
	return resp("CreateTrafficMirrorTargetResponse", struct {
		T *target `xml:"trafficMirrorTarget"`
	}{t}), nil
}

func (f *Fake) createFilter(p form) (any, *apiErr) {
	fl := &filter{ID: f.id("tmf"), Desc: p.get("Description"), Tags: p.tags()}
	f.filters[fl.ID] = fl
	return resp("CreateTrafficMirrorFilterResponse", struct {
		F *filter `xml:"trafficMirrorFilter"`
	}{fl}), nil
}

func (f *Fake) createRule(p form) (any, *apiErr) {
	fl := f.filters[p.get("TrafficMirrorFilterId")]
	if fl == nil {
		return nil, &apiErr{"InvalidTrafficMirrorFilterId.NotFound", "no filter " + p.get("TrafficMirrorFilterId")}
	}
	r := &rule{ID: f.id("tmfr"), FilterID: fl.ID, Dir: p.get("TrafficDirection"), Action: p.get("RuleAction"),
		DstCIDR: p.get("DestinationCidrBlock"), SrcCIDR: p.get("SourceCidrBlock"), Desc: p.get("Description")}
	r.Number, _ = strconv.Atoi(p.get("RuleNumber"))
	r.Protocol, _ = strconv.Atoi(p.get("Protocol"))
	if p.get("DestinationPortRange.FromPort") != "" {
		r.Dst = &portRange{}
		r.Dst.From, _ = strconv.Atoi(p.get("DestinationPortRange.FromPort"))
		r.Dst.To, _ = strconv.Atoi(p.get("DestinationPortRange.ToPort"))
	}
	if p.get("SourcePortRange.FromPort") != "" {
		r.Src = &portRange{}
		r.Src.From, _ = strconv.Atoi(p.get("SourcePortRange.FromPort"))
		r.Src.To, _ = strconv.Atoi(p.get("SourcePortRange.ToPort"))
	}
	if r.DstCIDR == "" || r.SrcCIDR == "" || r.Number < 1 || r.Number > 32766 {
		return nil, &apiErr{"InvalidParameterValue", "DestinationCidrBlock, SourceCidrBlock and RuleNumber 1..32766 are required"}
	}
	list := &fl.Ingress
	switch r.Dir {
	case "ingress":
	case "egress":
		list = &fl.Egress
	default:
		return nil, &apiErr{"InvalidParameterValue", "TrafficDirection must be ingress or egress"}
	}
	if len(*list) >= 10 {
		return nil, &apiErr{"TrafficMirrorFilterRuleLimitExceeded", "The maximum number of rules per filter per direction (10) has been reached."}
	}
	for _, o := range *list {
		if o.Number == r.Number {
			return nil, &apiErr{"InvalidParameterValue", "rule number already used in this direction"}
		}
	}
	*list = append(*list, r)
	return resp("CreateTrafficMirrorFilterRuleResponse", struct {
		R *rule `xml:"trafficMirrorFilterRule"`
	}{r}), nil
}

func (f *Fake) createSession(p form) (any, *apiErr) {
	s := &session{ENI: p.get("NetworkInterfaceId"), Target: p.get("TrafficMirrorTargetId"), Filter: p.get("TrafficMirrorFilterId"),
		Desc: p.get("Description"), Owner: "123456789012", Tags: p.tags()}
	s.Number, _ = strconv.Atoi(p.get("SessionNumber"))
	s.PktLen, _ = strconv.Atoi(p.get("PacketLength"))
	s.VNI, _ = strconv.Atoi(p.get("VirtualNetworkId"))
	if f.targets[s.Target] == nil {
		return nil, &apiErr{"InvalidTrafficMirrorTargetId.NotFound", "no target " + s.Target}
	}
	if f.filters[s.Filter] == nil {
		return nil, &apiErr{"InvalidTrafficMirrorFilterId.NotFound", "no filter " + s.Filter}
	}
	n := 0
	srcs := map[string]bool{s.ENI: true}
	for _, o := range f.sessions {
		if o.ENI == s.ENI {
			n++
			if o.Number == s.SessionNumber() {
				return nil, &apiErr{"InvalidParameterValue", fmt.Sprintf("session number %d is already used on %s", s.Number, s.ENI)}
			}
		}
		if o.Target == s.Target {
			srcs[o.ENI] = true
		}
	}
	if n >= f.SessionsPerENI {
		return nil, &apiErr{"TrafficMirrorSessionLimitExceeded", fmt.Sprintf("The maximum number of traffic mirror sessions per network interface (%d) has been reached.", f.SessionsPerENI)}
	}
	if f.targets[s.Target].Type == "network-interface" && len(srcs) > f.SourcesPerTarget {
		return nil, &apiErr{"TrafficMirrorSourcesPerTargetLimitExceeded", fmt.Sprintf("The maximum number of sources per traffic mirror target (%d) has been reached.", f.SourcesPerTarget)}
	}
	if s.VNI == 0 {
		s.VNI = 1000 + f.seq
	}
	s.ID = f.id("tms")
	f.sessions[s.ID] = s
	return resp("CreateTrafficMirrorSessionResponse", struct {
		S *session `xml:"trafficMirrorSession"`
	}{s}), nil
}

// SessionNumber keeps the comparison above readable.
func (s *session) SessionNumber() int { return s.Number }

func (f *Fake) deleteSession(p form) (any, *apiErr) {
	id := p.get("TrafficMirrorSessionId")
	if f.sessions[id] == nil {
		return nil, &apiErr{"InvalidTrafficMirrorSessionId.NotFound", "no session " + id}
	}
	delete(f.sessions, id)
	return resp("DeleteTrafficMirrorSessionResponse", struct {
		ID string `xml:"trafficMirrorSessionId"`
	}{id}), nil
}

func (f *Fake) deleteFilter(p form) (any, *apiErr) {
	id := p.get("TrafficMirrorFilterId")
	if f.filters[id] == nil {
		return nil, &apiErr{"InvalidTrafficMirrorFilterId.NotFound", "no filter " + id}
	}
	for _, s := range f.sessions {
		if s.Filter == id {
			return nil, &apiErr{"DependencyViolation", "filter " + id + " is used by session " + s.ID}
		}
	}
	delete(f.filters, id)
	return resp("DeleteTrafficMirrorFilterResponse", struct {
		ID string `xml:"trafficMirrorFilterId"`
	}{id}), nil
}

func (f *Fake) deleteTarget(p form) (any, *apiErr) {
	id := p.get("TrafficMirrorTargetId")
	if f.targets[id] == nil {
		return nil, &apiErr{"InvalidTrafficMirrorTargetId.NotFound", "no target " + id}
	}
	for _, s := range f.sessions {
		if s.Target == id {
			return nil, &apiErr{"DependencyViolation", "target " + id + " is used by session " + s.ID}
		}
	}
	delete(f.targets, id)
	return resp("DeleteTrafficMirrorTargetResponse", struct {
		ID string `xml:"trafficMirrorTargetId"`
	}{id}), nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (f *Fake) describeSessions(p form) (any, *apiErr) {
	fs := p.filters()
	var out []*session
	for _, id := range sortedKeys(f.sessions) {
		s := f.sessions[id]
		if match(fs, "network-interface-id", s.ENI, s.Tags) && match(fs, "traffic-mirror-target-id", s.Target, s.Tags) &&
			match(fs, "traffic-mirror-session-id", s.ID, s.Tags) {
			out = append(out, s)
		}
	}
	return resp("DescribeTrafficMirrorSessionsResponse", struct {
		S    []*session `xml:"trafficMirrorSessionSet>item"`
		Next string     `xml:"nextToken"`
	}{S: out}), nil
}

func (f *Fake) describeTargets(p form) (any, *apiErr) {
	fs := p.filters()
	var out []*target
	for _, id := range sortedKeys(f.targets) {
		t := f.targets[id]
		if match(fs, "network-interface-id", t.ENI, t.Tags) && match(fs, "traffic-mirror-target-id", t.ID, t.Tags) {
			out = append(out, t)
		}
	}
	return resp("DescribeTrafficMirrorTargetsResponse", struct {
		T []*target `xml:"trafficMirrorTargetSet>item"`
	}{out}), nil
}

func (f *Fake) describeFilters(p form) (any, *apiErr) {
	fs := p.filters()
	var out []*filter
	for _, id := range sortedKeys(f.filters) {
		fl := f.filters[id]
		if match(fs, "traffic-mirror-filter-id", fl.ID, fl.Tags) {
			out = append(out, fl)
		}
	}
	return resp("DescribeTrafficMirrorFiltersResponse", struct {
		F []*filter `xml:"trafficMirrorFilterSet>item"`
	}{out}), nil
}

type xmlENI struct {
	ID       string   `xml:"networkInterfaceId"`
	Groups   []string `xml:"groupSet>item>groupId"`
	Subnet   string   `xml:"subnetId"`
	IP       string   `xml:"privateIpAddress"`
	Instance string   `xml:"attachment>instanceId"`
	Device   int      `xml:"attachment>deviceIndex"`
}

type xmlInstance struct {
	ID     string   `xml:"instanceId"`
	Type   string   `xml:"instanceType"`
	Subnet string   `xml:"subnetId"`
	IP     string   `xml:"privateIpAddress"`
	ENIs   []xmlENI `xml:"networkInterfaceSet>item"`
}

func (f *Fake) describeInstances(p form) (any, *apiErr) {
	ids := p.list("InstanceId")
	var out []xmlInstance
	for _, in := range f.instances {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		out = append(out, xmlInstance{ID: in.ID, Type: in.Type, Subnet: in.Subnet, IP: in.IP,
			ENIs: []xmlENI{{ID: in.ENI, Subnet: in.Subnet, IP: in.IP, Instance: in.ID, Groups: in.Groups}}})
	}
	for _, id := range ids {
		if !slices.ContainsFunc(f.instances, func(in Instance) bool { return in.ID == id }) {
			return nil, &apiErr{"InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id)}
		}
	}
	type res struct {
		Instances []xmlInstance `xml:"instancesSet>item"`
	}
	return resp("DescribeInstancesResponse", struct {
		R []res `xml:"reservationSet>item"`
	}{[]res{{out}}}), nil
}

func (f *Fake) describeENIs(p form) (any, *apiErr) {
	ids := p.list("NetworkInterfaceId")
	var out []xmlENI
	if t, ok := p.filters()["interface-type"]; ok {
		for _, in := range f.instances {
			if slices.Contains(t, in.InterfaceType) || (in.InterfaceType == "" && slices.Contains(t, "interface")) {
				out = append(out, xmlENI{ID: in.ENI, Subnet: in.Subnet, IP: in.IP, Instance: in.ID, Groups: in.Groups})
			}
		}
	}
	for _, id := range ids {
		i := slices.IndexFunc(f.instances, func(in Instance) bool { return in.ENI == id })
		if i < 0 {
			return nil, &apiErr{"InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id)}
		}
		in := f.instances[i]
		out = append(out, xmlENI{ID: in.ENI, Subnet: in.Subnet, IP: in.IP, Instance: in.ID, Groups: in.Groups})
	}
	return resp("DescribeNetworkInterfacesResponse", struct {
		E []xmlENI `xml:"networkInterfaceSet>item"`
	}{out}), nil
}

func (f *Fake) describeTypes(p form) (any, *apiErr) {
	type it struct {
		Type       string `xml:"instanceType"`
		Hypervisor string `xml:"hypervisor"`
		BareMetal  string `xml:"bareMetal"`
	}
	var out []it
	for _, t := range p.list("InstanceType") {
		v, ok := f.types[t]
		if !ok {
			v = [2]string{"nitro", "false"}
		}
		out = append(out, it{t, v[0], v[1]})
	}
	return resp("DescribeInstanceTypesResponse", struct {
		T []it `xml:"instanceTypeSet>item"`
	}{out}), nil
}

func (f *Fake) describeSGs(p form) (any, *apiErr) {
	type perm struct {
		Protocol string   `xml:"ipProtocol"`
		From     int      `xml:"fromPort"`
		To       int      `xml:"toPort"`
		CIDRs    []string `xml:"ipRanges>item>cidrIp"`
		Groups   []string `xml:"groups>item>groupId"`
	}
	type sg struct {
		ID    string `xml:"groupId"`
		Name  string `xml:"groupName"`
		Perms []perm `xml:"ipPermissions>item"`
	}
	var out []sg
	for _, id := range p.list("GroupId") {
		ps, ok := f.sgs[id]
		if !ok {
			return nil, &apiErr{"InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id)}
		}
		g := sg{ID: id, Name: id}
		for _, q := range ps {
			g.Perms = append(g.Perms, perm{q.Protocol, q.FromPort, q.ToPort, q.CIDRs, q.Groups})
		}
		out = append(out, g)
	}
	return resp("DescribeSecurityGroupsResponse", struct {
		G []sg `xml:"securityGroupInfo>item"`
	}{out}), nil
}

func (f *Fake) describeACLs(p form) (any, *apiErr) {
	type rng struct {
		From int `xml:"from"`
		To   int `xml:"to"`
	}
	type entry struct {
		Number   int    `xml:"ruleNumber"`
		Protocol string `xml:"protocol"`
		Action   string `xml:"ruleAction"`
		Egress   bool   `xml:"egress"`
		CIDR     string `xml:"cidrBlock"`
		Range    *rng   `xml:"portRange,omitempty"`
	}
	type acl struct {
		ID      string  `xml:"networkAclId"`
		Entries []entry `xml:"entrySet>item"`
	}
	var out []acl
	subnet := p.filters()["association.subnet-id"]
	for _, sn := range subnet {
		es, ok := f.acls[sn]
		if !ok {
			continue
		}
		a := acl{ID: "acl-" + sn}
		for _, e := range es {
			en := entry{Number: e.Number, Protocol: e.Protocol, Action: "deny", Egress: e.Egress, CIDR: e.CIDR}
			if e.Allow {
				en.Action = "allow"
			}
			if e.Protocol == "6" || e.Protocol == "17" {
				en.Range = &rng{e.From, e.To}
			}
			a.Entries = append(a.Entries, en)
		}
		out = append(out, a)
	}
	return resp("DescribeNetworkAclsResponse", struct {
		A []acl `xml:"networkAclSet>item"`
	}{out}), nil
}

type elbResponse struct {
	XMLName xml.Name
	Xmlns   string `xml:"xmlns,attr"`
	Result  string `xml:",innerxml"`
}

func elbResp(action string, inner any) any {
	b, _ := xml.Marshal(inner)
	return &elbResponse{XMLName: xml.Name{Local: action + "Response"}, Xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", Result: string(b)}
}

func (f *Fake) tg(arn string) *TargetGroup {
	for i := range f.tgs {
		if f.tgs[i].ARN == arn {
			return &f.tgs[i]
		}
	}
	return nil
}

func (f *Fake) describeTGs(p form) (any, *apiErr) {
	type tg struct {
		ARN      string `xml:"TargetGroupArn"`
		Name     string `xml:"TargetGroupName"`
		Protocol string `xml:"Protocol"`
		Port     int    `xml:"Port"`
		HCProto  string `xml:"HealthCheckProtocol"`
		HCPort   string `xml:"HealthCheckPort"`
		HCPath   string `xml:"HealthCheckPath,omitempty"`
	}
	var out []tg
	for _, t := range f.tgs {
		if t.LoadBalancerARN == p.get("LoadBalancerArn") {
			out = append(out, tg{t.ARN, t.Name, t.Protocol, t.Port, t.HealthCheckProtocol, t.HealthCheckPort, t.HealthCheckPath})
		}
	}
	return elbResp("DescribeTargetGroups", struct {
		XMLName xml.Name `xml:"DescribeTargetGroupsResult"`
		G       []tg     `xml:"TargetGroups>member"`
	}{G: out}), nil
}

func (f *Fake) describeTGAttrs(p form) (any, *apiErr) {
	t := f.tg(p.get("TargetGroupArn"))
	if t == nil {
		return nil, &apiErr{"TargetGroupNotFound", "no target group " + p.get("TargetGroupArn")}
	}
	type attr struct {
		Key   string `xml:"Key"`
		Value string `xml:"Value"`
	}
	var out []attr
	for _, k := range sortedKeys(t.Attributes) {
		out = append(out, attr{k, t.Attributes[k]})
	}
	return elbResp("DescribeTargetGroupAttributes", struct {
		XMLName xml.Name `xml:"DescribeTargetGroupAttributesResult"`
		A       []attr   `xml:"Attributes>member"`
	}{A: out}), nil
}

func (f *Fake) describeTGHealth(p form) (any, *apiErr) {
	t := f.tg(p.get("TargetGroupArn"))
	if t == nil {
		return nil, &apiErr{"TargetGroupNotFound", "no target group " + p.get("TargetGroupArn")}
	}
	type th struct {
		ID     string `xml:"Target>Id"`
		Port   int    `xml:"Target>Port"`
		State  string `xml:"TargetHealth>State"`
		Reason string `xml:"TargetHealth>Reason,omitempty"`
	}
	var out []th
	for _, id := range sortedKeys(t.Health) {
		out = append(out, th{id, t.Port, t.Health[id][0], t.Health[id][1]})
	}
	return elbResp("DescribeTargetHealth", struct {
		XMLName xml.Name `xml:"DescribeTargetHealthResult"`
		H       []th     `xml:"TargetHealthDescriptions>member"`
	}{H: out}), nil
}

func (f *Fake) getMetricData(p form) (any, *apiErr) {
	type result struct {
		ID     string    `xml:"Id"`
		Label  string    `xml:"Label"`
		Times  []string  `xml:"Timestamps>member"`
		Values []float64 `xml:"Values>member"`
		Status string    `xml:"StatusCode"`
	}
	var rs []result
	for i := 1; ; i++ {
		pre := fmt.Sprintf("MetricDataQueries.member.%d.", i)
		id := p.get(pre + "Id")
		if id == "" {
			break
		}
		ns, name := p.get(pre+"MetricStat.Metric.Namespace"), p.get(pre+"MetricStat.Metric.MetricName")
		label := p.get(pre + "Label")
		if label == "" {
			label = name
		}
		if e := p.get(pre + "Expression"); e != "" {
			// SEARCH('{CWAgent,...} MetricName="X" ...', ...)
			ns = "CWAgent"
			if j := strings.Index(e, `MetricName="`); j >= 0 {
				name = e[j+len(`MetricName="`):]
				name = name[:strings.IndexByte(name, '"')]
			}
			label = name
			if _, ok := f.metrics[ns+"/"+name]; !ok {
				continue // a search without matches returns no result
			}
		}
		r := result{ID: id, Label: label, Status: "Complete"}
		for _, pt := range f.metrics[ns+"/"+name] {
			r.Times = append(r.Times, pt.Time)
			r.Values = append(r.Values, pt.Value)
		}
		rs = append(rs, r)
	}
	return &struct {
		XMLName xml.Name `xml:"GetMetricDataResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Results []result `xml:"GetMetricDataResult>MetricDataResults>member"`
		Request string   `xml:"ResponseMetadata>RequestId"`
	}{Xmlns: "http://monitoring.amazonaws.com/doc/2010-08-01/", Results: rs, Request: "fake-request"}, nil
}

func (f *Fake) imds(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing ttl", http.StatusBadRequest)
			return
		}
		w.Write([]byte("fake-imds-token"))
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != "fake-imds-token" {
		http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	s := f.self
	f.mu.Unlock()
	v, ok := map[string]string{
		"instance-id":      s.ID,
		"instance-type":    s.Type,
		"placement/region": s.Region,
		"mac":              s.MAC,
		"local-ipv4":       s.IP,
		"network/interfaces/macs/" + s.MAC + "/interface-id": s.ENI,
	}[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(v))
}
