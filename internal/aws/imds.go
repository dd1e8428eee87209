package aws

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Self is what IMDSv2 says about the instance mirrorscope runs on.
type Self struct {
	InstanceID   string
	InstanceType string
	Region       string
	// ENI is the primary interface (device 0): the mirror target.
	ENI       string
	PrivateIP string
	MAC       string
}

// IMDS reads the instance metadata service with IMDSv2 (a session token
// from PUT /latest/api/token, then GETs with the token): IMDSv1 is
// disabled on many instances.
type IMDS struct {
	Endpoint string
	HTTP     *http.Client
}

// NewIMDS returns a client for endpoint (Config.IMDSEndpoint).
func NewIMDS(endpoint string) *IMDS {
	return &IMDS{Endpoint: strings.TrimRight(endpoint, "/"), HTTP: &http.Client{Timeout: 3 * time.Second}}
}

// Self discovers the instance.
func (m *IMDS) Self(ctx context.Context) (*Self, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, m.Endpoint+"/latest/api/token", nil)
	if err != nil {
		return nil, fmt.Errorf("imds: %w", err)
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "300")
	token, err := m.do(req)
	if err != nil {
		return nil, fmt.Errorf("imds: not on EC2, or the metadata service is unreachable (hop limit 1 in a container?): %w", err)
	}
	get := func(path string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+"/latest/meta-data/"+path, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("X-aws-ec2-metadata-token", token)
		v, err := m.do(req)
		if err != nil {
			return "", fmt.Errorf("imds: %s: %w", path, err)
		}
		return strings.TrimSpace(v), nil
	}
	var s Self
	for _, f := range []struct {
		path string
		dst  *string
	}{
		{"instance-id", &s.InstanceID},
		{"instance-type", &s.InstanceType},
		{"placement/region", &s.Region},
		{"mac", &s.MAC},
		{"local-ipv4", &s.PrivateIP},
	} {
		if *f.dst, err = get(f.path); err != nil {
			return nil, err
		}
	}
	if s.ENI, err = get("network/interfaces/macs/" + s.MAC + "/interface-id"); err != nil {
		return nil, err
	}
	return &s, nil
}

func (m *IMDS) do(req *http.Request) (string, error) {
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(b), nil
}
