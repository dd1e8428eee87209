package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mirrorscope/mirrorscope/internal/result/schematest"
)

func TestFilterCLI(t *testing.T) {
	srv := repoTestdata + "/policer/policer.srv.pcap"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad rule", []string{"filter", "test", "--rule", "ingress 100 accept icmp dst-port 1", srv}, 2, "port ranges need protocol"},
		{"no filter", []string{"filter", "test", srv}, 2, "give the filter"},
		{"no capture", []string{"filter", "test", "--rule", "ingress 1 accept all"}, 2, "at least one capture"},
		{"ambiguous eni", []string{"filter", "test", "--rule", "ingress 1 accept all", srv}, 2, "--eni-ip"},
		{"not a capture", []string{"filter", "test", "--rule", "ingress 1 accept all", "--eni-ip", "198.18.0.2", "filter_test.go"}, 2, "not a pcap"},
		{"ok", []string{"filter", "test", "--rule", "ingress 100 accept tcp dst-port 5201", "--eni-ip", "198.18.0.2", srv}, 0, "ingress 100 accept tcp dst-port 5201                   1253      1871531      2"},
		{"check", []string{"filter", "check", "--rule", "egress 20 reject udp", "--rule", "egress 10 accept all"}, 0, "egress 10 accept all\n  egress 20 reject udp"},
		{"mirror needs vni", []string{"mirror", "--iface", "lo", "--target", "127.0.0.1", "--rule", "ingress 1 accept all"}, 2, "--vni"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want %d; output does not contain %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	out, _, code := run(t, nil, "filter", "test", "--format", "json", "--rule", "ingress 100 accept tcp dst-port 5201", "--eni-ip", "198.18.0.2", srv)
	schematest.Validate(t, "filter-test", "filter test --format json", []byte(out))
	var rep struct {
		Mirrored struct{ Packets int } `json:"mirrored"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Mirrored.Packets != 1253 {
		t.Errorf("json: exit %d, mirrored %d, want 1253", code, rep.Mirrored.Packets)
	}
}
