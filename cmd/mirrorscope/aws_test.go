package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	awsx "github.com/mirrorscope/mirrorscope/internal/aws"
	"github.com/mirrorscope/mirrorscope/internal/aws/awsfake"
	"github.com/mirrorscope/mirrorscope/internal/decode"
	"github.com/mirrorscope/mirrorscope/internal/listen"
	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

var awsSelf = awsfake.Instance{ID: "i-0target", Type: "c5n.large", Region: "eu-west-1", ENI: "eni-0target", MAC: "0a:00:00:00:00:01", IP: "10.0.0.10", Subnet: "subnet-1"}

// awsEnv starts the fake and points the AWS chain at it.
func awsEnv(t *testing.T) (*awsfake.Fake, func(string) string) {
	t.Helper()
	f := awsfake.New(awsSelf)
	f.AddInstance(awsfake.Instance{ID: "i-0src1", Type: "m5.large", ENI: "eni-0src1", IP: "10.0.0.21", Subnet: "subnet-1"})
	t.Cleanup(f.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // the SDK's own IMDS use; ours has its endpoint
	env := map[string]string{"AWS_ENDPOINT_URL": f.URL(), "AWS_EC2_METADATA_SERVICE_ENDPOINT": f.URL()}
	return f, func(k string) string { return env[k] }
}

func runAWS(t *testing.T, ctx context.Context, h awsHooks, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "aws" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newAWSCmdHooks(h))
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func replayInto(t *testing.T, to netip.AddrPort) {
	t.Helper()
	st, err := listen.Replay(t.Context(), listen.ReplayConfig{Files: []string{repoTestdata + "/policer/policer.mon.pcap"},
		To: to.String(), Encap: "vxlan", Decode: decode.DefaultConfig(), NoRaw: true})
	if err != nil || st.Sent == 0 {
		t.Errorf("replay: %+v %v", st, err)
	}
}

// TestAWSCaptureEndToEnd: created, then a real mirror capture replayed
// into the listener is analysed, then everything is deleted, and the
// report has the CloudWatch section.
func TestAWSCaptureEndToEnd(t *testing.T) {
	f, getenv := awsEnv(t)
	now := time.Now().UTC().Truncate(time.Minute)
	for _, m := range []string{"NetworkIn", "NetworkOut", "NetworkPacketsOut", "NetworkMirrorOut"} {
		f.SetMetric("AWS/EC2", m, awsfake.Point{Time: now.Format(time.RFC3339), Value: 1e6}, awsfake.Point{Time: now.Add(time.Minute).Format(time.RFC3339), Value: 1e6})
	}
	var stateWhileListening []string
	h := awsHooks{getenv: getenv,
		listening: func(a netip.AddrPort) {
			stateWhileListening = f.State()
			replayInto(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.Port()))
		}}
	out, stderr, err := runAWS(t, t.Context(), h, "aws", "capture", "--source", "i-0src1", "--duration", "1500ms",
		"--vxlan", "127.0.0.1:0", "--format", "json", "--packet-length", "128")
	if err != nil {
		t.Fatalf("aws capture: %v\n%s", err, stderr)
	}
	schematest.Validate(t, "report", "aws capture --format json", []byte(out))
	if len(stateWhileListening) != 7 { // target, filter, 4 rules, 1 session
		t.Errorf("while listening the fake held %v, want a target, a filter with 4 rules and a session", stateWhileListening)
	}
	if s := f.State(); len(s) != 0 {
		t.Errorf("left behind: %v", s)
	}
	var rep struct {
		Capture struct {
			Packets uint64 `json:"packets"`
		} `json:"capture"`
		Flows    []json.RawMessage `json:"flows"`
		Findings []struct {
			Kind, Summary string
			Evidence      []string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if len(rep.Flows) == 0 {
		t.Errorf("no flows analysed: %s", out)
	}
	// The replay runs at full speed, so the limiter diagnosis has too
	// little time to judge; the CloudWatch metrics are correlated with
	// the analysed flows (mirror_coverage compares their bytes).
	var cw, correlated bool
	for _, fd := range rep.Findings {
		cw = cw || strings.HasPrefix(fd.Summary, "CloudWatch: fetched cloudwatch:i-0src1") && slices.Contains(fd.Evidence, "NetworkIn i-0src1")
		correlated = correlated || fd.Kind == "mirror_coverage"
	}
	if !cw || !correlated {
		t.Errorf("report lacks the CloudWatch section (%v) or its correlation with the flows (%v):\n%s", cw, correlated, out)
	}
	calls := f.Calls()
	iSess := slices.Index(calls, "CreateTrafficMirrorSession")
	iDel := slices.Index(calls, "DeleteTrafficMirrorTarget")
	iCW := slices.Index(calls, "GetMetricData")
	if iSess < 0 || iDel < iSess || iCW < iDel {
		t.Errorf("calls out of order (create, delete, CloudWatch): %v", calls)
	}
	if f.Unsigned() != 0 {
		t.Errorf("%d requests not SigV4-signed", f.Unsigned())
	}
}

// TestAWSCaptureInterrupted: SIGINT (a cancelled context, as main's
// signal.NotifyContext gives) in every phase leaves nothing behind.
func TestAWSCaptureInterrupted(t *testing.T) {
	for _, phase := range []string{"target", "filter", "rule", "session", "listen", "cloudwatch"} {
		t.Run(phase, func(t *testing.T) {
			f, getenv := awsEnv(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			h := awsHooks{getenv: getenv, step: func(s string) {
				if s == phase {
					cancel()
				}
			}}
			_, stderr, err := runAWS(t, ctx, h, "aws", "capture", "--source", "eni-0src1", "--duration", "300ms", "--vxlan", "127.0.0.1:0")
			if phase == "listen" || phase == "cloudwatch" {
				if err != nil {
					t.Errorf("interrupted while %s: %v (the report of what was received is still written)", phase, err)
				}
			} else if err == nil {
				t.Errorf("interrupted during setup (%s) but no error", phase)
			}
			if s := f.State(); len(s) != 0 {
				t.Errorf("left behind: %v\n%s", s, stderr)
			}
		})
	}
}

// TestAWSCaptureFailures: a failure midway deletes what was created;
// what cannot be deleted is printed with its delete command.
func TestAWSCaptureFailures(t *testing.T) {
	t.Run("session denied", func(t *testing.T) {
		f, getenv := awsEnv(t)
		f.Fail("CreateTrafficMirrorSession", "UnauthorizedOperation")
		_, _, err := runAWS(t, t.Context(), awsHooks{getenv: getenv}, "aws", "capture", "--source", "eni-0src1", "--vxlan", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "ec2:CreateTrafficMirrorSession") {
			t.Errorf("error %v, want one naming ec2:CreateTrafficMirrorSession", err)
		}
		if s := f.State(); len(s) != 0 {
			t.Errorf("left behind: %v", s)
		}
	})
	t.Run("target not deletable", func(t *testing.T) {
		f, getenv := awsEnv(t)
		f.Fail("CreateTrafficMirrorSession", "InternalError")
		f.Fail("DeleteTrafficMirrorTarget", "UnauthorizedOperation")
		_, stderr, err := runAWS(t, t.Context(), awsHooks{getenv: getenv}, "aws", "capture", "--source", "eni-0src1", "--vxlan", "127.0.0.1:0")
		if err == nil || !strings.Contains(stderr, "aws ec2 delete-traffic-mirror-target --traffic-mirror-target-id tmt-") {
			t.Errorf("error %v, stderr %s: want the delete command of the target", err, stderr)
		}
	})
}

func TestAWSCleanupCmd(t *testing.T) {
	f, getenv := awsEnv(t)
	c, _, err := awsClient(t.Context(), awsHooks{getenv: getenv}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	m := awsx.NewMirror(c, nil)
	if _, err := m.Setup(t.Context(), awsx.Plan{Sources: []string{"eni-0src1"}, TargetENI: awsSelf.ENI, Owner: "t", Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	out, _, err := runAWS(t, t.Context(), awsHooks{getenv: getenv}, "aws", "cleanup")
	if err != nil || !strings.Contains(out, "deleted session tms-") || len(f.State()) != 0 {
		t.Errorf("cleanup: %v\n%s\nstate %v", err, out, f.State())
	}
}

func TestAWSHelpShowsPolicy(t *testing.T) {
	out, _, err := runAWS(t, t.Context(), awsHooks{}, "aws", "--help")
	if err != nil || !strings.Contains(out, awsx.Policy()) {
		t.Errorf("aws --help lacks the IAM policy: %v\n%s", err, out)
	}
}

func TestAnalyzeCloudWatch(t *testing.T) {
	f, getenv := awsEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", getenv("AWS_ENDPOINT_URL"))
	t.Setenv("AWS_REGION", "eu-west-1")
	capture := repoTestdata + "/policer/policer.mon.pcap"
	plain, _, code := run(t, nil, "analyze", "--format", "json", capture)
	var r struct {
		Capture struct{ First string } `json:"capture"`
	}
	if err := json.Unmarshal([]byte(plain), &r); code != 0 || err != nil {
		t.Fatalf("analyze: %d %v", code, err)
	}
	first, err := time.Parse(time.RFC3339Nano, r.Capture.First)
	if err != nil {
		t.Fatal(err)
	}
	m := first.UTC().Truncate(time.Minute).Format(time.RFC3339)
	f.SetMetric("AWS/EC2", "NetworkSkipMirrorOut", awsfake.Point{Time: m, Value: 50000})
	out, stderr, code := run(t, nil, "analyze", "--cloudwatch", "i-0src1", capture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"CloudWatch: fetched cloudwatch:i-0src1", "AWS skipped mirroring"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !slices.Contains(f.Calls(), "GetMetricData") {
		t.Error("no GetMetricData call")
	}
}

func TestAWSDoctorCmd(t *testing.T) {
	f, getenv := awsEnv(t)
	c, _, err := awsClient(t.Context(), awsHooks{getenv: getenv}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := c.CreateFilter(t.Context(), "one way", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateFilterRule(t.Context(), awsx.FilterRule{FilterID: fl.ID, Direction: "ingress", Number: 10, Action: "accept", SrcCIDR: "0.0.0.0/0", DstCIDR: "0.0.0.0/0"}); err != nil {
		t.Fatal(err)
	}
	tg, err := c.CreateTarget(t.Context(), awsx.TargetSpec{NetworkInterfaceID: awsSelf.ENI})
	if err != nil {
		t.Fatal(err)
	}
	f.AddSession("eni-0src1", tg.ID, fl.ID, 1)
	out, _, err := runAWS(t, t.Context(), awsHooks{getenv: getenv}, "aws", "doctor", "--source", "eni-0src1", "--format", "json")
	schematest.Validate(t, "aws-doctor", "aws doctor --format json", []byte(out))
	if exitCodeOf(err) != 1 {
		t.Errorf("exit %d (%v), want 1 for a failed check", exitCodeOf(err), err)
	}
	var res struct {
		Checks []awsx.Check `json:"checks"`
		Failed int          `json:"failed"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Failed != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	text, _, _ := runAWS(t, t.Context(), awsHooks{getenv: getenv}, "aws", "doctor", "--source", "eni-0src1")
	if !strings.Contains(text, "FAIL  filter_directions") || !strings.Contains(text, "fix: aws ec2 create-traffic-mirror-filter-rule") {
		t.Errorf("text output:\n%s", text)
	}
}

func TestListenEMFFlag(t *testing.T) {
	if _, _, code := run(t, nil, "listen", "--emf", "-", "--vxlan", "127.0.0.1:0", "--http", ""); code != exitUsage {
		t.Errorf("--emf - with JSON lines on stdout: exit %d, want %d", code, exitUsage)
	}
	path := t.TempDir() + "/emf.jsonl"
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"listen", "--emf", path, "--vxlan", "127.0.0.1:0", "--http", "", "-q"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("listen --emf: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("--emf file not created: %v", err)
	}
}

// TestAWSCaptureHTML: --format html writes analyze's page, with the
// replayed flows' charts and the CloudWatch section.
func TestAWSCaptureHTML(t *testing.T) {
	_, getenv := awsEnv(t)
	h := awsHooks{getenv: getenv, listening: func(a netip.AddrPort) {
		replayInto(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.Port()))
	}}
	path := t.TempDir() + "/r.html"
	if _, stderr, err := runAWS(t, t.Context(), h, "aws", "capture", "--source", "i-0src1", "--duration", "1s",
		"--vxlan", "127.0.0.1:0", "--format", "html", "-o", path); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"<html", "CloudWatch: fetched cloudwatch:i-0src1", `"tcp_flows":`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `"tcp_flows":0`) {
		t.Error("the page has no chart data")
	}
}
