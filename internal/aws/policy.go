package aws

import (
	"encoding/json"
	"slices"
)

// Actions is every IAM action mirrorscope's AWS commands need, by
// command. ec2:CreateTags is needed because resources are tagged when
// they are created (TagSpecification). TestPolicyCoversCalls checks
// that every action this package calls is listed.
var Actions = map[string][]string{
	"capture": {
		"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces",
		"ec2:DescribeTrafficMirrorTargets", "ec2:DescribeTrafficMirrorFilters", "ec2:DescribeTrafficMirrorSessions",
		"ec2:CreateTrafficMirrorTarget", "ec2:CreateTrafficMirrorFilter", "ec2:CreateTrafficMirrorFilterRule",
		"ec2:CreateTrafficMirrorSession", "ec2:CreateTags",
		"ec2:DeleteTrafficMirrorSession", "ec2:DeleteTrafficMirrorFilter", "ec2:DeleteTrafficMirrorTarget",
		"cloudwatch:GetMetricData",
	},
	"cleanup": {
		"ec2:DescribeTrafficMirrorTargets", "ec2:DescribeTrafficMirrorFilters", "ec2:DescribeTrafficMirrorSessions",
		"ec2:DeleteTrafficMirrorSession", "ec2:DeleteTrafficMirrorFilter", "ec2:DeleteTrafficMirrorTarget",
	},
	"analyze --cloudwatch": {"cloudwatch:GetMetricData"},
	"doctor": {
		"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeInstanceTypes",
		"ec2:DescribeSecurityGroups", "ec2:DescribeNetworkAcls",
		"ec2:DescribeTrafficMirrorTargets", "ec2:DescribeTrafficMirrorFilters", "ec2:DescribeTrafficMirrorSessions",
		"cloudwatch:GetMetricData",
		"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
		"elasticloadbalancing:DescribeTargetHealth",
	},
}

// AllActions is the union of Actions, sorted.
func AllActions() []string {
	var all []string
	for _, as := range Actions {
		all = append(all, as...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// Policy is the least-privilege IAM policy document for every command.
// Traffic mirroring actions do not support resource-level restrictions
// for every action, so Resource is "*"; deletion is limited to what
// carries mirrorscope's tag where IAM can express it (docs/aws.md).
func Policy() string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":      "Mirrorscope",
			"Effect":   "Allow",
			"Action":   AllActions(),
			"Resource": "*",
		}},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}
