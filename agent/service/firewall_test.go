package service

import (
	"context"
	"reflect"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

// The firewall's rules are checked before anything is read or reserved,
// so a service without a store answers them.
func TestFirewallRules(t *testing.T) {
	s := &Service{}
	alice := &Caller{AccountID: 1}
	tcp := func(min, max int, src string) FirewallRule {
		return FirewallRule{Protocol: "tcp", PortMin: min, PortMax: max, Source: src, Action: "accept"}
	}
	many := make([]FirewallRule, MaxFirewallRules+1)
	for n := range many {
		many[n] = tcp(n+1, 0, "")
	}
	tests := []struct {
		name  string
		fw    Firewall
		kind  Kind
		field string
	}{
		{"no policy", Firewall{}, KindMissing, "policy"},
		{"unknown policy", Firewall{Policy: "reject"}, KindInvalid, "policy"},
		{"too many rules", Firewall{Policy: "drop", Rules: many}, KindInvalid, "rules"},
		{"no protocol", Firewall{Policy: "drop", Rules: []FirewallRule{{Action: "accept"}}}, KindMissing, "rules[0].protocol"},
		{"unknown protocol", Firewall{Policy: "drop", Rules: []FirewallRule{{Protocol: "sctp", Action: "accept"}}}, KindInvalid, "rules[0].protocol"},
		{"no action", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(22, 0, ""), {Protocol: "tcp"}}}, KindMissing, "rules[1].action"},
		{"unknown action", Firewall{Policy: "drop", Rules: []FirewallRule{{Protocol: "tcp", Action: "reject"}}}, KindInvalid, "rules[0].action"},
		{"ports on icmp", Firewall{Policy: "drop", Rules: []FirewallRule{{Protocol: "icmp", PortMin: 1, Action: "accept"}}}, KindInvalid, "rules[0].port_min"},
		{"ports on all", Firewall{Policy: "drop", Rules: []FirewallRule{{Protocol: "all", PortMin: 1, Action: "accept"}}}, KindInvalid, "rules[0].port_min"},
		{"port 0 to 80", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(0, 80, "")}}, KindInvalid, "rules[0].port_min"},
		{"port over 65535", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(65536, 0, "")}}, KindInvalid, "rules[0].port_min"},
		{"range backwards", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(90, 80, "")}}, KindInvalid, "rules[0].port_max"},
		{"source not an address", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(22, 0, "example.org")}}, KindInvalid, "rules[0].source"},
		{"source with host bits", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(22, 0, "10.0.0.5/24")}}, KindInvalid, "rules[0].source"},
		{"source prefix too long", Firewall{Policy: "drop", Rules: []FirewallRule{tcp(22, 0, "10.0.0.0/33")}}, KindInvalid, "rules[0].source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SetFirewall(context.Background(), alice, 1, tt.fw, CallOptions{})
			wantRefusal(t, err, tt.kind, tt.field)
		})
	}
}

func TestCheckFirewallNormalises(t *testing.T) {
	got, err := checkFirewall(Firewall{Policy: "DROP", Rules: []FirewallRule{
		{Protocol: "TCP", PortMin: 22, Action: "Accept"},
		{Protocol: "udp", PortMin: 50, PortMax: 60, Source: "10.0.0.0/8", Action: "accept"},
		{Protocol: "icmp", Source: "fd00::5", Action: "drop"},
		{Protocol: "all", Source: "192.0.2.1", Action: "accept"},
	}})
	want := &store.Firewall{Policy: "drop", Rules: []store.FirewallRule{
		{Protocol: "tcp", PortMin: 22, PortMax: 22, Action: "accept"},
		{Protocol: "udp", PortMin: 50, PortMax: 60, Source: "10.0.0.0/8", Action: "accept"},
		{Protocol: "icmp", Source: "fd00::5/128", Action: "drop"},
		{Protocol: "all", Source: "192.0.2.1/32", Action: "accept"},
	}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("checkFirewall = %+v, %v; want %+v", got, err, want)
	}
	// The accept policy without rules is no firewall at all.
	if got, err := checkFirewall(Firewall{Policy: "accept"}); got != nil || err != nil {
		t.Errorf("accept, no rules = %+v, %v; want none", got, err)
	}
}
