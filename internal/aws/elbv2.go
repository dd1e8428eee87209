package aws

import (
	"context"
	"net/url"
)

// TargetGroup is the part of an ELBv2 target group the doctor reads.
type TargetGroup struct {
	ARN                 string `xml:"TargetGroupArn"`
	Name                string `xml:"TargetGroupName"`
	Protocol            string `xml:"Protocol"`
	Port                int    `xml:"Port"`
	HealthCheckProtocol string `xml:"HealthCheckProtocol"`
	HealthCheckPort     string `xml:"HealthCheckPort"` // a number or "traffic-port"
	HealthCheckPath     string `xml:"HealthCheckPath"`
}

// TargetHealth is one target's health in a target group.
type TargetHealth struct {
	ID          string `xml:"Target>Id"`
	Port        int    `xml:"Target>Port"`
	State       string `xml:"TargetHealth>State"`
	Reason      string `xml:"TargetHealth>Reason"`
	Description string `xml:"TargetHealth>Description"`
}

// DescribeTargetGroups lists the target groups of a load balancer.
func (c *Client) DescribeTargetGroups(ctx context.Context, lbARN string) ([]TargetGroup, error) {
	var out struct {
		Groups []TargetGroup `xml:"DescribeTargetGroupsResult>TargetGroups>member"`
	}
	err := c.call(ctx, ELBv2, "DescribeTargetGroups", url.Values{"LoadBalancerArn": {lbARN}}, &out)
	return out.Groups, err
}

// TargetGroupAttributes returns a target group's attributes by key
// (stickiness.enabled, stickiness.type, ...).
func (c *Client) TargetGroupAttributes(ctx context.Context, tgARN string) (map[string]string, error) {
	var out struct {
		Attrs []struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		} `xml:"DescribeTargetGroupAttributesResult>Attributes>member"`
	}
	if err := c.call(ctx, ELBv2, "DescribeTargetGroupAttributes", url.Values{"TargetGroupArn": {tgARN}}, &out); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, a := range out.Attrs {
		m[a.Key] = a.Value
	}
	return m, nil
}

// DescribeTargetHealth returns the health of a target group's targets.
func (c *Client) DescribeTargetHealth(ctx context.Context, tgARN string) ([]TargetHealth, error) {
	var out struct {
		Health []TargetHealth `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member"`
	}
	err := c.call(ctx, ELBv2, "DescribeTargetHealth", url.Values{"TargetGroupArn": {tgARN}}, &out)
	return out.Health, err
}
