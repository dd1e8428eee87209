package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Service names an AWS service this package calls. Its value is the IAM
// action prefix.
type Service string

// The services called.
const (
	EC2        Service = "ec2"
	CloudWatch Service = "cloudwatch"
	ELBv2      Service = "elasticloadbalancing"
)

// service is how one service is reached with the Query protocol.
type service struct {
	signing string // SigV4 service name
	host    string // endpoint host prefix
	version string // Query API version
	env     string // AWS_ENDPOINT_URL_<env> overrides the endpoint
}

func serviceInfo(s Service) service {
	switch s {
	case EC2:
		return service{"ec2", "ec2", "2016-11-15", "EC2"}
	case CloudWatch:
		return service{"monitoring", "monitoring", "2010-08-01", "CLOUDWATCH"}
	case ELBv2:
		return service{"elasticloadbalancing", "elasticloadbalancing", "2015-12-01", "ELASTIC_LOAD_BALANCING_V2"}
	}
	return service{}
}

// Config configures a Client. Start from ConfigFromEnv.
type Config struct {
	// Region is the AWS region; when empty, New fails (LoadConfig takes it
	// from the environment, shared config or IMDS).
	Region string
	// Endpoints overrides a service's endpoint URL (tests, VPC endpoints,
	// LocalStack). Missing ones are https://HOST.REGION.amazonaws.com.
	Endpoints map[Service]string
	// IMDSEndpoint is the instance metadata service's base URL.
	IMDSEndpoint string
	// Credentials signs the requests; nil sends them unsigned (tests).
	Credentials sdkaws.CredentialsProvider
	// HTTP is the client used; nil means a client with a 30 s timeout.
	HTTP *http.Client
	// MaxAttempts bounds the attempts of one call (throttling and server
	// errors are retried with exponential backoff and jitter).
	MaxAttempts int
	// Backoff, when set, replaces the SDK's exponential jitter backoff
	// (tests use a millisecond one).
	Backoff func(attempt int) time.Duration
	Logger  *slog.Logger
}

// ConfigFromEnv returns the defaults with the endpoint overrides the AWS
// SDKs and CLI honour: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_CLOUDWATCH,
// AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2, AWS_ENDPOINT_URL (all
// services) and AWS_EC2_METADATA_SERVICE_ENDPOINT (IMDS).
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		Region:       getenv("AWS_REGION"),
		Endpoints:    map[Service]string{},
		IMDSEndpoint: "http://169.254.169.254",
		MaxAttempts:  5,
	}
	if c.Region == "" {
		c.Region = getenv("AWS_DEFAULT_REGION")
	}
	for _, s := range []Service{EC2, CloudWatch, ELBv2} {
		if u := getenv("AWS_ENDPOINT_URL_" + serviceInfo(s).env); u != "" {
			c.Endpoints[s] = u
		} else if u := getenv("AWS_ENDPOINT_URL"); u != "" {
			c.Endpoints[s] = u
		}
	}
	if u := getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); u != "" {
		c.IMDSEndpoint = u
	}
	return c
}

// LoadCredentials fills c.Credentials (and c.Region when empty) with the
// SDK's default chain: environment, shared config and credentials files,
// SSO, web identity, container and instance role.
func LoadCredentials(ctx context.Context, c *Config) error {
	opts := []func(*config.LoadOptions) error{}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("aws: loading credentials: %w", err)
	}
	c.Credentials = ac.Credentials
	if c.Region == "" {
		c.Region = ac.Region
	}
	return nil
}

// Client calls EC2, CloudWatch and ELBv2 with the Query protocol. It is
// safe for concurrent use.
type Client struct {
	cfg     Config
	signer  *v4.Signer
	retryer *retry.Standard
	log     *slog.Logger
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("aws: no region: set AWS_REGION or --region (on EC2 the instance's own region is used)")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 5
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = cfg.MaxAttempts
		o.MaxBackoff = 20 * time.Second
	})
	return &Client{cfg: cfg, signer: v4.NewSigner(), retryer: r, log: log}, nil
}

// Region is the client's region.
func (c *Client) Region() string { return c.cfg.Region }

func (c *Client) endpoint(s Service) string {
	if u := c.cfg.Endpoints[s]; u != "" {
		return strings.TrimRight(u, "/") + "/"
	}
	return "https://" + serviceInfo(s).host + "." + c.cfg.Region + ".amazonaws.com/"
}

// APIError is an error response of an AWS API.
type APIError struct {
	Service   Service
	Action    string
	Status    int
	Code      string
	Message   string
	RequestID string
}

// ErrorCode and HTTPStatusCode let the SDK's retryer classify the error
// (throttling codes, 5xx).
func (e *APIError) ErrorCode() string   { return e.Code }
func (e *APIError) HTTPStatusCode() int { return e.Status }

// AccessDenied reports whether the caller lacks the IAM permission.
func (e *APIError) AccessDenied() bool {
	switch e.Code {
	case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure":
		return true
	}
	return false
}

// IAMAction is the action the call needs, e.g. ec2:CreateTrafficMirrorSession.
func (e *APIError) IAMAction() string { return string(e.Service) + ":" + e.Action }

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: %s: %s", e.Service, e.Action, e.Code, e.Message)
	if e.AccessDenied() {
		s += fmt.Sprintf(" (the IAM policy lacks %s: see 'mirrorscope aws --help' or docs/aws.md)", e.IAMAction())
	}
	return s
}

// call runs one Query API action, retrying throttling and server errors,
// and decodes the XML response into out (nil: discard).
func (c *Client) call(ctx context.Context, svc Service, action string, params url.Values, out any) error {
	si := serviceInfo(svc)
	body := url.Values{}
	for k, v := range params {
		body[k] = v
	}
	body.Set("Action", action)
	body.Set("Version", si.version)
	payload := body.Encode()
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, svc, si, action, payload, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= c.cfg.MaxAttempts || !c.retryer.IsErrorRetryable(err) {
			return err
		}
		var d time.Duration
		if c.cfg.Backoff != nil {
			d = c.cfg.Backoff(attempt)
		} else if d, _ = c.retryer.RetryDelay(attempt, err); d <= 0 {
			d = 100 * time.Millisecond
		}
		c.log.Debug("aws: retrying", "action", string(svc)+":"+action, "attempt", attempt, "delay", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: %w (after %v)", svc, action, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (c *Client) once(ctx context.Context, svc Service, si service, action, payload string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(svc), strings.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%s %s: %w", svc, action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if c.cfg.Credentials != nil {
		creds, err := c.cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("%s %s: credentials: %w", svc, action, err)
		}
		h := sha256.Sum256([]byte(payload))
		if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(h[:]), si.signing, c.cfg.Region, time.Now()); err != nil {
			return fmt.Errorf("%s %s: signing: %w", svc, action, err)
		}
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", svc, action, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", svc, action, err)
	}
	if resp.StatusCode/100 != 2 {
		return parseError(svc, action, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding response: %w", svc, action, err)
	}
	return nil
}

// parseError reads both Query error shapes: EC2's
// <Response><Errors><Error><Code> and the others'
// <ErrorResponse><Error><Code>.
func parseError(svc Service, action string, status int, data []byte) error {
	var doc struct {
		Errors    []xmlError `xml:"Errors>Error"`
		Error     []xmlError `xml:"Error"`
		RequestID string     `xml:"RequestID"`
		RequestId string     `xml:"RequestId"`
	}
	e := &APIError{Service: svc, Action: action, Status: status}
	if err := xml.Unmarshal(data, &doc); err == nil {
		errs := append(doc.Errors, doc.Error...)
		if len(errs) > 0 {
			e.Code, e.Message = errs[0].Code, errs[0].Message
		}
		e.RequestID = doc.RequestID + doc.RequestId
	}
	if e.Code == "" {
		e.Code = http.StatusText(status)
		e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	return e
}

type xmlError struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}
