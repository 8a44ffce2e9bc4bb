package service

import (
	"context"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/workflow"
)

// The rules below are checked before anything is read or reserved, so a
// service without a store answers them.
func TestIfaceRules(t *testing.T) {
	s := &Service{cfg: Config{Limits: Limits{MaxBandwidth: 1e9}, Network: workflow.Network{MinBandwidth: 1000}}}
	alice := &Caller{AccountID: 1}
	ctx := context.Background()
	i64 := func(v int64) *int64 { return &v }
	f64 := func(v float64) *float64 { return &v }
	str := func(v string) *string { return &v }
	tests := []struct {
		name  string
		call  func() error
		kind  Kind
		field string
	}{
		{"create: ip_version 5", func() error {
			_, err := s.CreateIface(ctx, alice, NewIface{DatacenterID: 1, IPVersion: i64(5)})
			return err
		}, KindInvalid, "ip_version"},
		{"create: ip_version 0 is not 'absent'", func() error {
			_, err := s.CreateIface(ctx, alice, NewIface{DatacenterID: 1, IPVersion: i64(0)})
			return err
		}, KindInvalid, "ip_version"},
		{"create: a tenant chooses no id", func() error {
			_, err := s.CreateIface(ctx, alice, NewIface{DatacenterID: 1, Options: CallOptions{IfaceID: 7}})
			return err
		}, KindNoRight, "iface_id"},
		{"update: no bandwidth", func() error {
			_, err := s.UpdateIface(ctx, alice, IfaceUpdate{ID: 1})
			return err
		}, KindMissing, "bandwidth"},
		{"update: a negative bandwidth (0 is unlimited)", func() error {
			_, err := s.UpdateIface(ctx, alice, IfaceUpdate{ID: 1, Bandwidth: f64(-1.0)})
			return err
		}, KindInvalid, "bandwidth"},
		{"update: bandwidth below the network's minimum", func() error {
			_, err := s.UpdateIface(ctx, alice, IfaceUpdate{ID: 1, Bandwidth: f64(999.0)})
			return err
		}, KindInvalid, "bandwidth"},
		{"update: bandwidth over the limit", func() error {
			_, err := s.UpdateIface(ctx, alice, IfaceUpdate{ID: 1, Bandwidth: f64(2e9)})
			return err
		}, KindInvalid, "bandwidth"},
		{"update: idempotency key too long", func() error {
			_, err := s.UpdateIface(ctx, alice, IfaceUpdate{ID: 1, Bandwidth: f64(1e6), Options: CallOptions{IdempotencyKey: strings.Repeat("k", 129)}})
			return err
		}, KindInvalid, "idempotency_key"},
		{"ip update: no reverse", func() error {
			_, err := s.UpdateIP(ctx, alice, IPUpdate{ID: 1})
			return err
		}, KindMissing, "reverse"},
		{"ip update: not a host name", func() error {
			_, err := s.UpdateIP(ctx, alice, IPUpdate{ID: 1, Reverse: str("not a name!")})
			return err
		}, KindInvalid, "reverse"},
		{"ip update: label over 63", func() error {
			_, err := s.UpdateIP(ctx, alice, IPUpdate{ID: 1, Reverse: str(strings.Repeat("a", 64) + ".example.org")})
			return err
		}, KindInvalid, "reverse"},
		{"ip list: version 5", func() error { return IPFilter{Version: i64(5)}.check() }, KindInvalid, "version"},
		{"ip list: version 6", func() error { return IPFilter{Version: i64(6)}.check() }, -1, ""},
		{"ip list: any version", func() error { return IPFilter{}.check() }, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRefusal(t, tt.call(), tt.kind, tt.field) })
	}
}

func TestValidDNSName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"www.example.org", true}, {"www.example.org.", true}, {"a", true}, {"xvm-10-0-0-2.example.net", true},
		{"", false}, {".", false}, {"a..b", false}, {"-a.example.org", false}, {"a_b.example.org", false},
		{strings.Repeat("a", 63) + ".org", true}, {strings.Repeat("a", 64) + ".org", false},
		{strings.Repeat("a.", 126) + "a", true}, {strings.Repeat("a.", 127) + "a", false},
	}
	for _, tt := range tests {
		if got := validDNSName(tt.name); got != tt.want {
			t.Errorf("validDNSName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
