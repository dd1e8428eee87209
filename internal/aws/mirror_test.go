package aws

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/mirrorscope/mirrorscope/internal/aws/awsfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var self = awsfake.Instance{ID: "i-0target", Type: "c5n.large", Region: "eu-west-1", ENI: "eni-0target", MAC: "0a:00:00:00:00:01", IP: "10.0.0.10", Subnet: "subnet-1"}

func newFake(t *testing.T) (*awsfake.Fake, *Client) {
	t.Helper()
	f := awsfake.New(self)
	f.AddInstance(awsfake.Instance{ID: "i-0src1", Type: "m5.large", ENI: "eni-0src1", IP: "10.0.0.21", Subnet: "subnet-1"})
	f.AddInstance(awsfake.Instance{ID: "i-0src2", Type: "m5.large", ENI: "eni-0src2", IP: "10.0.0.22", Subnet: "subnet-1"})
	t.Cleanup(f.Close)
	return newFakeAt(t, f)
}

func newFakeAt(t *testing.T, f *awsfake.Fake) (*awsfake.Fake, *Client) {
	t.Helper()
	cfg := ConfigFromEnv(func(k string) string {
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL") || k == "AWS_EC2_METADATA_SERVICE_ENDPOINT" {
			return f.URL()
		}
		return map[string]string{"AWS_REGION": "eu-west-1"}[k]
	})
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	cfg.Backoff = func(int) time.Duration { return time.Millisecond }
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func plan() Plan {
	return Plan{Sources: []string{"eni-0src1", "eni-0src2"}, TargetENI: self.ENI, ExcludeCIDR: self.IP + "/32",
		PacketLength: 128, Owner: "test", Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func TestSetupTeardown(t *testing.T) {
	f, c := newFake(t)
	// A session of someone else on src1 takes number 1.
	other, err := c.CreateTarget(t.Context(), TargetSpec{NetworkInterfaceID: "eni-other"})
	if err != nil {
		t.Fatal(err)
	}
	otherSess := f.AddSession("eni-0src1", other.ID, "tmf-other", 1)
	m := NewMirror(c, slog.New(slog.DiscardHandler))
	s, err := m.Setup(t.Context(), plan())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Sessions) != 2 || s.Sessions[0].SessionNumber != 2 || s.Sessions[1].SessionNumber != 1 {
		t.Fatalf("sessions %+v: want numbers 2 (1 is taken on eni-0src1) and 1", s.Sessions)
	}
	for _, ss := range s.Sessions {
		if v, _ := ss.Tags.Get(TagExpires); v != "2030-01-01T00:00:00Z" || ss.PacketLength != 128 {
			t.Errorf("session %+v: want expiry tag and packet length 128", ss)
		}
	}
	fs, err := c.DescribeFilters(t.Context(), Filter{"traffic-mirror-filter-id", []string{s.FilterID}})
	if err != nil || len(fs) != 1 {
		t.Fatalf("filter: %v %v", fs, err)
	}
	got := []string{}
	for _, r := range append(fs[0].Ingress, fs[0].Egress...) {
		got = append(got, r.Direction+" "+r.Action+" "+r.SrcCIDR+" "+r.DstCIDR)
	}
	want := []string{"ingress reject 10.0.0.10/32 0.0.0.0/0", "ingress accept 0.0.0.0/0 0.0.0.0/0",
		"egress reject 0.0.0.0/0 10.0.0.10/32", "egress accept 0.0.0.0/0 0.0.0.0/0"}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("rules (-got +want):\n%s", d)
	}
	if left := m.Teardown(t.Context()); len(left) != 0 {
		t.Fatalf("leftovers: %v", left)
	}
	if d := cmp.Diff(f.State(), []string{otherSess, other.ID}); d != "" {
		t.Errorf("state after teardown (-got +want):\n%s", d)
	}
	if n := f.Unsigned(); n != 0 {
		t.Errorf("%d unsigned requests", n)
	}
}

func TestSetupReusesTarget(t *testing.T) {
	f, c := newFake(t)
	tg, err := c.CreateTarget(t.Context(), TargetSpec{NetworkInterfaceID: self.ENI})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMirror(c, nil)
	s, err := m.Setup(t.Context(), plan())
	if err != nil {
		t.Fatal(err)
	}
	if s.TargetID != tg.ID {
		t.Errorf("target %s, want the existing %s", s.TargetID, tg.ID)
	}
	m.Teardown(t.Context())
	if d := cmp.Diff(f.State(), []string{tg.ID}); d != "" {
		t.Errorf("state (-got +want): %s", d)
	}
}

func TestSetupFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(f *awsfake.Fake)
		plan    func(p *Plan)
		wantErr string // "" = success
	}{
		{name: "access denied names the IAM action", setup: func(f *awsfake.Fake) { f.Fail("CreateTrafficMirrorSession", "UnauthorizedOperation") },
			wantErr: "ec2:CreateTrafficMirrorSession"},
		{name: "throttling is retried", setup: func(f *awsfake.Fake) { f.Throttle("CreateTrafficMirrorFilter", 3) }},
		{name: "failure after the target was created", setup: func(f *awsfake.Fake) { f.Fail("CreateTrafficMirrorFilterRule", "InternalError") },
			wantErr: "adding"},
		{name: "session quota of the source ENI", setup: func(f *awsfake.Fake) {
			for n := 1; n <= 3; n++ {
				f.AddSession("eni-0src2", "tmt-x", "tmf-x", n)
			}
		}, wantErr: "eni-0src2 already has 3 mirror sessions"},
		{name: "quota error from AWS", setup: func(f *awsfake.Fake) { f.SessionsPerENI = 0 },
			wantErr: "an AWS mirroring quota is exhausted"},
		{name: "sources per given target", setup: func(f *awsfake.Fake) { f.AddTarget("eni-given", "") }, plan: func(p *Plan) {
			p.TargetID = "tmt-00000000000000001"
			p.SourcesPerTarget = 1
		}, wantErr: "would have 2 sources"},
		{name: "sources per new target", plan: func(p *Plan) { p.SourcesPerTarget = 1 }, wantErr: "2 sources; an ENI target takes at most 1"},
		{name: "no such target", plan: func(p *Plan) { p.TargetID = "tmt-nope" }, wantErr: "tmt-nope does not exist"},
		{name: "too many rules", plan: func(p *Plan) {
			for i := 0; i < 10; i++ {
				p.Rules = append(p.Rules, FilterRule{Direction: "ingress", Number: 10 + i, Action: "accept", SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0"})
			}
		}, wantErr: "11 ingress rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFake(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := f.State()
			p := plan()
			if tc.plan != nil {
				tc.plan(&p)
			}
			m := NewMirror(c, nil)
			_, err := m.Setup(t.Context(), p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Setup: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Setup error %v, want one containing %q", err, tc.wantErr)
			}
			if left := m.Teardown(t.Context()); len(left) != 0 {
				t.Fatalf("leftovers: %v", left)
			}
			if d := cmp.Diff(f.State(), before); d != "" {
				t.Errorf("state after teardown (-got +want):\n%s", d)
			}
		})
	}
}

func TestSetupCancelledAtEachStep(t *testing.T) {
	for _, step := range []string{"target", "filter", "rule", "session"} {
		t.Run(step, func(t *testing.T) {
			f, c := newFake(t)
			ctx, cancel := context.WithCancel(t.Context())
			m := NewMirror(c, nil)
			m.Step = func(s string) {
				if s == step {
					cancel()
				}
			}
			if _, err := m.Setup(ctx, plan()); !errors.Is(err, context.Canceled) {
				t.Fatalf("Setup: %v, want context.Canceled", err)
			}
			if left := m.Teardown(t.Context()); len(left) != 0 {
				t.Fatalf("leftovers: %v", left)
			}
			if s := f.State(); len(s) != 0 {
				t.Errorf("left behind: %v", s)
			}
		})
	}
}

func TestTeardownLeftoverCommand(t *testing.T) {
	f, c := newFake(t)
	m := NewMirror(c, nil)
	if _, err := m.Setup(t.Context(), plan()); err != nil {
		t.Fatal(err)
	}
	f.Fail("DeleteTrafficMirrorTarget", "UnauthorizedOperation")
	left := m.Teardown(t.Context())
	if len(left) != 1 || left[0].Kind != "target" {
		t.Fatalf("leftovers %v, want the target", left)
	}
	want := "aws ec2 delete-traffic-mirror-target --traffic-mirror-target-id " + left[0].ID + " --region eu-west-1"
	if got := left[0].DeleteCommand(c.Region()); got != want {
		t.Errorf("command %q, want %q", got, want)
	}
	if !strings.Contains(left[0].Err.Error(), "ec2:DeleteTrafficMirrorTarget") {
		t.Errorf("error %v does not name the IAM action", left[0].Err)
	}
	f.Fail("DeleteTrafficMirrorTarget", "")
	if left := m.Teardown(t.Context()); len(left) != 0 || len(f.State()) != 0 {
		t.Errorf("second teardown: %v, state %v", left, f.State())
	}
}

func TestCleanup(t *testing.T) {
	f, c := newFake(t)
	old := NewMirror(c, nil)
	p := plan()
	p.Expires = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := old.Setup(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	live := NewMirror(c, nil)
	p = plan()
	p.Sources = p.Sources[:1]
	p.TargetENI = "eni-other"
	s, err := live.Setup(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	deleted, left, err := Cleanup(t.Context(), c, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	if err != nil || len(left) != 0 {
		t.Fatalf("Cleanup: %v %v", left, err)
	}
	if len(deleted) != 4 { // target, filter, 2 sessions (the rules go with the filter)
		t.Errorf("deleted %v, want 4 resources", deleted)
	}
	var want []string
	for _, r := range live.Created() {
		want = append(want, r.ID)
	}
	fs, _ := c.DescribeFilters(t.Context(), Filter{"traffic-mirror-filter-id", []string{s.FilterID}})
	for _, r := range append(fs[0].Ingress, fs[0].Egress...) {
		want = append(want, r.ID)
	}
	slices.Sort(want)
	if d := cmp.Diff(f.State(), want); d != "" {
		t.Errorf("state after cleanup, want only the unexpired run (-got +want):\n%s", d)
	}
}

func TestIMDS(t *testing.T) {
	f, _ := newFake(t)
	s, err := NewIMDS(f.URL()).Self(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &Self{InstanceID: self.ID, InstanceType: self.Type, Region: self.Region, ENI: self.ENI, PrivateIP: self.IP, MAC: self.MAC}
	if d := cmp.Diff(s, want); d != "" {
		t.Errorf("(-got +want):\n%s", d)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"AWS_DEFAULT_REGION":                "us-east-2",
		"AWS_ENDPOINT_URL":                  "http://all",
		"AWS_ENDPOINT_URL_CLOUDWATCH":       "http://cw",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://imds",
	}
	c := ConfigFromEnv(func(k string) string { return env[k] })
	want := map[Service]string{EC2: "http://all", CloudWatch: "http://cw", ELBv2: "http://all"}
	if d := cmp.Diff(c.Endpoints, want); d != "" || c.Region != "us-east-2" || c.IMDSEndpoint != "http://imds" {
		t.Errorf("endpoints (-got +want):\n%s\nregion %q imds %q", d, c.Region, c.IMDSEndpoint)
	}
	cl, err := New(ConfigFromEnv(func(k string) string { return map[string]string{"AWS_REGION": "eu-west-3"}[k] }))
	if err != nil {
		t.Fatal(err)
	}
	if got := cl.endpoint(ELBv2); got != "https://elasticloadbalancing.eu-west-3.amazonaws.com/" {
		t.Errorf("default endpoint %s", got)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a region succeeded")
	}
}

func TestSetupNLBTarget(t *testing.T) {
	f, c := newFake(t)
	m := NewMirror(c, nil)
	p := plan()
	p.TargetENI, p.ExcludeCIDR = "", ""
	p.TargetNLB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/mirror/0123"
	s, err := m.Setup(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.DescribeTargets(t.Context(), Filter{"traffic-mirror-target-id", []string{s.TargetID}})
	if err != nil || len(ts) != 1 || ts[0].Type != "network-load-balancer" || ts[0].NetworkLoadBalancer != p.TargetNLB {
		t.Fatalf("target %+v %v", ts, err)
	}
	if left := m.Teardown(t.Context()); len(left) != 0 || len(f.State()) != 0 {
		t.Errorf("leftovers %v, state %v", left, f.State())
	}
}

// TestSetupInterruptedInFlight: an interruption that arrives while AWS is
// creating a resource still leaves its id recorded, so Teardown deletes
// it.
func TestSetupInterruptedInFlight(t *testing.T) {
	for _, action := range []string{"CreateTrafficMirrorTarget", "CreateTrafficMirrorFilter", "CreateTrafficMirrorFilterRule", "CreateTrafficMirrorSession"} {
		t.Run(action, func(t *testing.T) {
			f := awsfake.New(self)
			defer f.Close()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f.OnCall = func(a string) {
				if a == action {
					cancel()
				}
			}
			f.AddInstance(awsfake.Instance{ID: "i-0src1", Type: "m5.large", ENI: "eni-0src1", IP: "10.0.0.21", Subnet: "subnet-1"})
			_, c := newFakeAt(t, f)
			m := NewMirror(c, nil)
			p := plan()
			p.Sources = p.Sources[:1]
			if _, err := m.Setup(ctx, p); !errors.Is(err, context.Canceled) {
				t.Fatalf("Setup: %v, want context.Canceled", err)
			}
			if left := m.Teardown(t.Context()); len(left) != 0 {
				t.Fatalf("leftovers: %v", left)
			}
			if s := f.State(); len(s) != 0 {
				t.Errorf("left behind: %v", s)
			}
		})
	}
}
