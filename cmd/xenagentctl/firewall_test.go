package main

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// A -rule reads as firewall_apply's rule struct, and a rule of
// firewall_rules is written back the same way; a wrong one names the
// rule and what is wrong.
func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want map[string]any
		err  string
	}{
		{"tcp 22 10.0.0.0/8 accept", map[string]any{"protocol": "tcp", "port_min": int64(22), "port_max": int64(22), "source": "10.0.0.0/8", "action": "accept"}, ""},
		{"udp 53", nil, `action "53": must be accept or drop`},
		{"tcp 8000-8080 drop", map[string]any{"protocol": "tcp", "port_min": int64(8000), "port_max": int64(8080), "action": "drop"}, ""},
		{"all 2001:db8::/32 drop", map[string]any{"protocol": "all", "source": "2001:db8::/32", "action": "drop"}, ""},
		{"icmp 192.0.2.7 accept", map[string]any{"protocol": "icmp", "source": "192.0.2.7", "action": "accept"}, ""},
		{"  icmp   accept ", map[string]any{"protocol": "icmp", "action": "accept"}, ""},
		{"sctp 22 accept", nil, `protocol "sctp": must be tcp, udp, icmp or all`},
		{"tcp 22 allow", nil, `action "allow": must be accept or drop`},
		{"icmp 22 accept", nil, "a port is for tcp and udp only"},
		{"tcp 0 accept", nil, `ports "0": must be a port or a range`},
		{"tcp 70000 accept", nil, `ports "70000"`},
		{"tcp 90-80 accept", nil, `ports "90-80"`},
		{"tcp 22 23 accept", nil, "two port ranges"},
		{"tcp 10.0.0.0/33 accept", nil, `"10.0.0.0/33" is neither a port range nor a source`},
		{"tcp web accept", nil, `"web" is neither`},
		{"accept", nil, "a rule is PROTOCOL [PORT[-PORT]] [SOURCE] ACTION"},
		{"tcp 22 10.0.0.0/8 10.1.0.0/16 accept", nil, "a rule is PROTOCOL"},
	} {
		got, err := parseRule(tc.rule)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), strconv.Quote(tc.rule)) {
				t.Errorf("parseRule(%q) = %v, %v; want an error naming the rule and saying %q", tc.rule, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseRule(%q) = %v, %v; want %v", tc.rule, got, err, tc.want)
			continue
		}
		if back := formatRule(got); back != strings.Join(strings.Fields(tc.rule), " ") {
			t.Errorf("formatRule(parseRule(%q)) = %q", tc.rule, back)
		}
	}
}

// iface firewall against an agent: shown empty, applied (rules in order,
// -wait), shown as -rule takes them and as firewall_rules has them,
// replaced, cleared.
func TestIfaceFirewall(t *testing.T) {
	url, image := inProcessAgent(t)
	mustCtl(t, url, aliceKey, "call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{}`, strconv.FormatInt(image, 10), "-wait")
	ifaces, _ := vmInfo(t, url, "1")["ifaces"].([]any)
	if len(ifaces) != 1 {
		t.Fatalf("vm info ifaces = %v", ifaces)
	}
	iface := strconv.FormatFloat(ifaces[0].(map[string]any)["id"].(float64), 'f', -1, 64)

	if out := mustCtl(t, url, aliceKey, "iface", "firewall", iface); out != "policy: accept\nrules: none\n" {
		t.Errorf("iface firewall of a new iface printed %q", out)
	}
	out := mustCtl(t, url, aliceKey, "iface", "firewall", iface, "-policy", "drop",
		"-rule", "tcp 22 10.0.0.0/8 accept", "-rule", "tcp 80-443 accept", "-rule", "icmp accept", "-wait")
	if !strings.HasPrefix(out, "operation ") || !strings.HasSuffix(out, "iface_firewall DONE\n") {
		t.Errorf("iface firewall -policy drop -wait printed:\n%s", out)
	}
	want := "policy: drop\nrule: tcp 22 10.0.0.0/8 accept\nrule: tcp 80-443 accept\nrule: icmp accept\n"
	if out := mustCtl(t, url, aliceKey, "iface", "firewall", iface); out != want {
		t.Errorf("iface firewall after the apply printed\n%s\nwant\n%s", out, want)
	}
	out = mustCtl(t, url, aliceKey, "call", "hosting.iface.firewall_rules", iface)
	for _, w := range []string{`"policy": "drop"`, `"port_min": 80`, `"port_max": 443`, `"source": "10.0.0.0/8"`} {
		if !strings.Contains(out, w) {
			t.Errorf("firewall_rules after the apply does not say %s:\n%s", w, out)
		}
	}
	mustCtl(t, url, aliceKey, "iface", "firewall", "-policy", "accept", iface, "-rule", "udp 53 drop", "-wait")
	if out := mustCtl(t, url, aliceKey, "iface", "firewall", iface, "-o", "json"); !strings.Contains(out, `"protocol": "udp"`) || strings.Contains(out, `"tcp"`) {
		t.Errorf("iface firewall -o json after the replacement:\n%s", out)
	}
	if out := mustCtl(t, url, aliceKey, "iface", "firewall", iface, "-clear", "-wait"); !strings.HasSuffix(out, "iface_firewall DONE\n") {
		t.Errorf("iface firewall -clear -wait printed:\n%s", out)
	}
	if out := mustCtl(t, url, aliceKey, "iface", "firewall", iface); out != "policy: accept\nrules: none\n" {
		t.Errorf("iface firewall after -clear printed %q", out)
	}
}
