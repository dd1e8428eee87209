package aws

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Tag is an EC2 resource tag.
type Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// Tags is a resource's tag set.
type Tags []Tag

// Get returns the value of key.
func (ts Tags) Get(key string) (string, bool) {
	for _, t := range ts {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// MirrorTarget is a TrafficMirrorTarget.
type MirrorTarget struct {
	ID                  string `xml:"trafficMirrorTargetId"`
	NetworkInterfaceID  string `xml:"networkInterfaceId"`
	NetworkLoadBalancer string `xml:"networkLoadBalancerArn"`
	GatewayLBEndpointID string `xml:"gatewayLoadBalancerEndpointId"`
	Type                string `xml:"type"`
	Description         string `xml:"description"`
	Tags                Tags   `xml:"tagSet>item"`
}

// PortRange is a filter rule's port range.
type PortRange struct {
	From int `xml:"fromPort"`
	To   int `xml:"toPort"`
}

// FilterRule is a TrafficMirrorFilterRule.
type FilterRule struct {
	ID          string     `xml:"trafficMirrorFilterRuleId"`
	FilterID    string     `xml:"trafficMirrorFilterId"`
	Direction   string     `xml:"trafficDirection"` // ingress, egress
	Number      int        `xml:"ruleNumber"`
	Action      string     `xml:"ruleAction"` // accept, reject
	Protocol    int        `xml:"protocol"`   // 0 = all
	DstPorts    *PortRange `xml:"destinationPortRange"`
	SrcPorts    *PortRange `xml:"sourcePortRange"`
	DstCIDR     string     `xml:"destinationCidrBlock"`
	SrcCIDR     string     `xml:"sourceCidrBlock"`
	Description string     `xml:"description"`
}

// MirrorFilter is a TrafficMirrorFilter.
type MirrorFilter struct {
	ID          string       `xml:"trafficMirrorFilterId"`
	Description string       `xml:"description"`
	Ingress     []FilterRule `xml:"ingressFilterRuleSet>item"`
	Egress      []FilterRule `xml:"egressFilterRuleSet>item"`
	Services    []string     `xml:"networkServiceSet>item"`
	Tags        Tags         `xml:"tagSet>item"`
}

// MirrorSession is a TrafficMirrorSession.
type MirrorSession struct {
	ID                 string `xml:"trafficMirrorSessionId"`
	TargetID           string `xml:"trafficMirrorTargetId"`
	FilterID           string `xml:"trafficMirrorFilterId"`
	NetworkInterfaceID string `xml:"networkInterfaceId"`
	PacketLength       int    `xml:"packetLength"`
	SessionNumber      int    `xml:"sessionNumber"`
	VNI                int    `xml:"virtualNetworkId"`
	Description        string `xml:"description"`
	Tags               Tags   `xml:"tagSet>item"`
}

// Instance is the part of DescribeInstances mirrorscope reads.
type Instance struct {
	ID         string             `xml:"instanceId"`
	Type       string             `xml:"instanceType"`
	SubnetID   string             `xml:"subnetId"`
	VpcID      string             `xml:"vpcId"`
	PrivateIP  string             `xml:"privateIpAddress"`
	Interfaces []NetworkInterface `xml:"networkInterfaceSet>item"`
}

// NetworkInterface is an ENI.
type NetworkInterface struct {
	ID         string   `xml:"networkInterfaceId"`
	SubnetID   string   `xml:"subnetId"`
	VpcID      string   `xml:"vpcId"`
	PrivateIP  string   `xml:"privateIpAddress"`
	InstanceID string   `xml:"attachment>instanceId"`
	Device     int      `xml:"attachment>deviceIndex"`
	Groups     []string `xml:"groupSet>item>groupId"`
}

// InstanceType is the part of DescribeInstanceTypes mirrorscope reads.
type InstanceType struct {
	Type       string `xml:"instanceType"`
	Hypervisor string `xml:"hypervisor"`
	BareMetal  bool   `xml:"bareMetal"`
	// NetworkPerformance is e.g. "Up to 12.5 Gigabit".
	NetworkPerformance string `xml:"networkInfo>networkPerformance"`
	VCPUs              int    `xml:"vCpuInfo>defaultVCpus"`
}

// SecurityGroup is a VPC security group's inbound rules.
type SecurityGroup struct {
	ID      string       `xml:"groupId"`
	Name    string       `xml:"groupName"`
	Inbound []Permission `xml:"ipPermissions>item"`
}

// Permission is one security group rule.
type Permission struct {
	Protocol string   `xml:"ipProtocol"` // tcp, udp, icmp, -1, or a number
	FromPort int      `xml:"fromPort"`
	ToPort   int      `xml:"toPort"`
	CIDRs    []string `xml:"ipRanges>item>cidrIp"`
	Groups   []string `xml:"groups>item>groupId"`
}

// NetworkACL is a network ACL with its entries.
type NetworkACL struct {
	ID      string     `xml:"networkAclId"`
	Entries []ACLEntry `xml:"entrySet>item"`
}

// ACLEntry is one network ACL rule.
type ACLEntry struct {
	Number   int    `xml:"ruleNumber"`
	Protocol string `xml:"protocol"` // "-1", "6", "17"
	Action   string `xml:"ruleAction"`
	Egress   bool   `xml:"egress"`
	CIDR     string `xml:"cidrBlock"`
	From     *int   `xml:"portRange>from"`
	To       *int   `xml:"portRange>to"`
}

func addTags(p url.Values, resourceType string, tags Tags) {
	if len(tags) == 0 {
		return
	}
	p.Set("TagSpecification.1.ResourceType", resourceType)
	for i, t := range tags {
		p.Set(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i+1), t.Key)
		p.Set(fmt.Sprintf("TagSpecification.1.Tag.%d.Value", i+1), t.Value)
	}
}

func addList(p url.Values, name string, vals []string) {
	for i, v := range vals {
		p.Set(fmt.Sprintf("%s.%d", name, i+1), v)
	}
}

// Filter is an EC2 Describe* filter (Name, Values).
type Filter struct {
	Name   string
	Values []string
}

func addFilters(p url.Values, fs []Filter) {
	for i, f := range fs {
		p.Set(fmt.Sprintf("Filter.%d.Name", i+1), f.Name)
		addList(p, fmt.Sprintf("Filter.%d.Value", i+1), f.Values)
	}
}

// TargetSpec says what a new mirror target points at (one of the three).
type TargetSpec struct {
	NetworkInterfaceID  string
	NetworkLoadBalancer string
	GatewayLBEndpointID string
	Description         string
	Tags                Tags
}

// CreateTarget creates a traffic mirror target.
func (c *Client) CreateTarget(ctx context.Context, s TargetSpec) (*MirrorTarget, error) {
	p := url.Values{}
	switch {
	case s.NetworkInterfaceID != "":
		p.Set("NetworkInterfaceId", s.NetworkInterfaceID)
	case s.NetworkLoadBalancer != "":
		p.Set("NetworkLoadBalancerArn", s.NetworkLoadBalancer)
	case s.GatewayLBEndpointID != "":
		p.Set("GatewayLoadBalancerEndpointId", s.GatewayLBEndpointID)
	}
	if s.Description != "" {
		p.Set("Description", s.Description)
	}
	p.Set("ClientToken", clientToken())
	addTags(p, "traffic-mirror-target", s.Tags)
	var out struct {
		Target MirrorTarget `xml:"trafficMirrorTarget"`
	}
	if err := c.call(ctx, EC2, "CreateTrafficMirrorTarget", p, &out); err != nil {
		return nil, err
	}
	return &out.Target, nil
}

// CreateFilter creates an empty traffic mirror filter.
func (c *Client) CreateFilter(ctx context.Context, description string, tags Tags) (*MirrorFilter, error) {
	p := url.Values{}
	p.Set("Description", description)
	p.Set("ClientToken", clientToken())
	addTags(p, "traffic-mirror-filter", tags)
	var out struct {
		Filter MirrorFilter `xml:"trafficMirrorFilter"`
	}
	if err := c.call(ctx, EC2, "CreateTrafficMirrorFilter", p, &out); err != nil {
		return nil, err
	}
	return &out.Filter, nil
}

// CreateFilterRule adds rule r to filter r.FilterID.
func (c *Client) CreateFilterRule(ctx context.Context, r FilterRule) (*FilterRule, error) {
	p := url.Values{}
	p.Set("TrafficMirrorFilterId", r.FilterID)
	p.Set("TrafficDirection", r.Direction)
	p.Set("RuleNumber", strconv.Itoa(r.Number))
	p.Set("RuleAction", r.Action)
	if r.Protocol != 0 {
		p.Set("Protocol", strconv.Itoa(r.Protocol))
	}
	if r.DstPorts != nil {
		p.Set("DestinationPortRange.FromPort", strconv.Itoa(r.DstPorts.From))
		p.Set("DestinationPortRange.ToPort", strconv.Itoa(r.DstPorts.To))
	}
	if r.SrcPorts != nil {
		p.Set("SourcePortRange.FromPort", strconv.Itoa(r.SrcPorts.From))
		p.Set("SourcePortRange.ToPort", strconv.Itoa(r.SrcPorts.To))
	}
	p.Set("DestinationCidrBlock", r.DstCIDR)
	p.Set("SourceCidrBlock", r.SrcCIDR)
	if r.Description != "" {
		p.Set("Description", r.Description)
	}
	p.Set("ClientToken", clientToken())
	var out struct {
		Rule FilterRule `xml:"trafficMirrorFilterRule"`
	}
	if err := c.call(ctx, EC2, "CreateTrafficMirrorFilterRule", p, &out); err != nil {
		return nil, err
	}
	return &out.Rule, nil
}

// SessionSpec is a new mirror session.
type SessionSpec struct {
	NetworkInterfaceID, TargetID, FilterID string
	SessionNumber                          int
	PacketLength                           int // 0 = whole packets
	VNI                                    int // 0 = AWS picks one
	Description                            string
	Tags                                   Tags
}

// CreateSession creates a traffic mirror session.
func (c *Client) CreateSession(ctx context.Context, s SessionSpec) (*MirrorSession, error) {
	p := url.Values{}
	p.Set("NetworkInterfaceId", s.NetworkInterfaceID)
	p.Set("TrafficMirrorTargetId", s.TargetID)
	p.Set("TrafficMirrorFilterId", s.FilterID)
	p.Set("SessionNumber", strconv.Itoa(s.SessionNumber))
	if s.PacketLength > 0 {
		p.Set("PacketLength", strconv.Itoa(s.PacketLength))
	}
	if s.VNI > 0 {
		p.Set("VirtualNetworkId", strconv.Itoa(s.VNI))
	}
	if s.Description != "" {
		p.Set("Description", s.Description)
	}
	p.Set("ClientToken", clientToken())
	addTags(p, "traffic-mirror-session", s.Tags)
	var out struct {
		Session MirrorSession `xml:"trafficMirrorSession"`
	}
	if err := c.call(ctx, EC2, "CreateTrafficMirrorSession", p, &out); err != nil {
		return nil, err
	}
	return &out.Session, nil
}

// DeleteSession deletes a traffic mirror session.
func (c *Client) DeleteSession(ctx context.Context, id string) error {
	return c.call(ctx, EC2, "DeleteTrafficMirrorSession", url.Values{"TrafficMirrorSessionId": {id}}, nil)
}

// DeleteFilter deletes a traffic mirror filter and its rules.
func (c *Client) DeleteFilter(ctx context.Context, id string) error {
	return c.call(ctx, EC2, "DeleteTrafficMirrorFilter", url.Values{"TrafficMirrorFilterId": {id}}, nil)
}

// DeleteTarget deletes a traffic mirror target.
func (c *Client) DeleteTarget(ctx context.Context, id string) error {
	return c.call(ctx, EC2, "DeleteTrafficMirrorTarget", url.Values{"TrafficMirrorTargetId": {id}}, nil)
}

// pages calls a paginated Describe action until NextToken is empty.
func (c *Client) pages(ctx context.Context, action string, p url.Values, page func() (any, *string)) error {
	for n := 0; n < 1000; n++ {
		out, next := page()
		if err := c.call(ctx, EC2, action, p, out); err != nil {
			return err
		}
		if *next == "" {
			return nil
		}
		p.Set("NextToken", *next)
	}
	return fmt.Errorf("ec2 %s: more than 1000 pages", action)
}

// DescribeSessions lists traffic mirror sessions matching filters.
func (c *Client) DescribeSessions(ctx context.Context, filters ...Filter) ([]MirrorSession, error) {
	p := url.Values{}
	addFilters(p, filters)
	var all []MirrorSession
	var out struct {
		Items []MirrorSession `xml:"trafficMirrorSessionSet>item"`
		Next  string          `xml:"nextToken"`
	}
	err := c.pages(ctx, "DescribeTrafficMirrorSessions", p, func() (any, *string) {
		all = append(all, out.Items...)
		out.Items, out.Next = nil, ""
		return &out, &out.Next
	})
	return append(all, out.Items...), err
}

// DescribeTargets lists traffic mirror targets matching filters.
func (c *Client) DescribeTargets(ctx context.Context, filters ...Filter) ([]MirrorTarget, error) {
	p := url.Values{}
	addFilters(p, filters)
	var all []MirrorTarget
	var out struct {
		Items []MirrorTarget `xml:"trafficMirrorTargetSet>item"`
		Next  string         `xml:"nextToken"`
	}
	err := c.pages(ctx, "DescribeTrafficMirrorTargets", p, func() (any, *string) {
		all = append(all, out.Items...)
		out.Items, out.Next = nil, ""
		return &out, &out.Next
	})
	return append(all, out.Items...), err
}

// DescribeFilters lists traffic mirror filters matching filters.
func (c *Client) DescribeFilters(ctx context.Context, filters ...Filter) ([]MirrorFilter, error) {
	p := url.Values{}
	addFilters(p, filters)
	var all []MirrorFilter
	var out struct {
		Items []MirrorFilter `xml:"trafficMirrorFilterSet>item"`
		Next  string         `xml:"nextToken"`
	}
	err := c.pages(ctx, "DescribeTrafficMirrorFilters", p, func() (any, *string) {
		all = append(all, out.Items...)
		out.Items, out.Next = nil, ""
		return &out, &out.Next
	})
	return append(all, out.Items...), err
}

// DescribeInstances returns the instances with these ids.
func (c *Client) DescribeInstances(ctx context.Context, ids ...string) ([]Instance, error) {
	p := url.Values{}
	addList(p, "InstanceId", ids)
	var out struct {
		Reservations []struct {
			Instances []Instance `xml:"instancesSet>item"`
		} `xml:"reservationSet>item"`
	}
	if err := c.call(ctx, EC2, "DescribeInstances", p, &out); err != nil {
		return nil, err
	}
	var all []Instance
	for _, r := range out.Reservations {
		all = append(all, r.Instances...)
	}
	return all, nil
}

// DescribeNetworkInterfaces returns the ENIs with these ids.
func (c *Client) DescribeNetworkInterfaces(ctx context.Context, ids ...string) ([]NetworkInterface, error) {
	p := url.Values{}
	addList(p, "NetworkInterfaceId", ids)
	var out struct {
		Items []NetworkInterface `xml:"networkInterfaceSet>item"`
	}
	if err := c.call(ctx, EC2, "DescribeNetworkInterfaces", p, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DescribeNetworkInterfacesWhere returns the ENIs matching filters.
func (c *Client) DescribeNetworkInterfacesWhere(ctx context.Context, filters ...Filter) ([]NetworkInterface, error) {
	p := url.Values{}
	addFilters(p, filters)
	var out struct {
		Items []NetworkInterface `xml:"networkInterfaceSet>item"`
	}
	if err := c.call(ctx, EC2, "DescribeNetworkInterfaces", p, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DescribeInstanceTypes returns the named instance types.
func (c *Client) DescribeInstanceTypes(ctx context.Context, types ...string) ([]InstanceType, error) {
	p := url.Values{}
	addList(p, "InstanceType", types)
	var out struct {
		Items []InstanceType `xml:"instanceTypeSet>item"`
	}
	if err := c.call(ctx, EC2, "DescribeInstanceTypes", p, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DescribeSecurityGroups returns the groups with these ids.
func (c *Client) DescribeSecurityGroups(ctx context.Context, ids ...string) ([]SecurityGroup, error) {
	p := url.Values{}
	addList(p, "GroupId", ids)
	var out struct {
		Items []SecurityGroup `xml:"securityGroupInfo>item"`
	}
	if err := c.call(ctx, EC2, "DescribeSecurityGroups", p, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DescribeSubnetACLs returns the network ACLs associated with a subnet.
func (c *Client) DescribeSubnetACLs(ctx context.Context, subnet string) ([]NetworkACL, error) {
	p := url.Values{}
	addFilters(p, []Filter{{"association.subnet-id", []string{subnet}}})
	var out struct {
		Items []NetworkACL `xml:"networkAclSet>item"`
	}
	if err := c.call(ctx, EC2, "DescribeNetworkAcls", p, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// clientToken makes Create* idempotent across the SDK-level retries of one
// call (a retried create after a lost response returns the same resource).
func clientToken() string {
	return "mirrorscope-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
