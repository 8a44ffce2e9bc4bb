package wire

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/network/antispoof"
)

func TestInboundFromThePort(t *testing.T) {
	src := netip.MustParsePrefix("192.0.2.0/24")
	got := inbound(&host.Firewall{DropByDefault: true, Rules: []host.FirewallRule{
		{Protocol: host.ProtoTCP, PortMin: 22, PortMax: 22, Source: src},
		{Protocol: host.ProtoUDP, PortMin: 50, PortMax: 60, Drop: true},
		{Protocol: host.ProtoICMP, Drop: true},
		{Protocol: host.ProtoAll, Source: src},
	}})
	want := &antispoof.Inbound{DropByDefault: true, Rules: []antispoof.Rule{
		{Proto: antispoof.ProtoTCP, PortMin: 22, PortMax: 22, Source: src},
		{Proto: antispoof.ProtoUDP, PortMin: 50, PortMax: 60, Drop: true},
		{Proto: antispoof.ProtoICMP, Drop: true},
		{Proto: antispoof.ProtoAll, Source: src},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inbound = %+v, want %+v", got, want)
	}
	if inbound(nil) != nil {
		t.Error("no firewall became one")
	}
	if in := inbound(&host.Firewall{Rules: []host.FirewallRule{{Protocol: 42}}}); in.Rules[0].Proto <= antispoof.ProtoICMP {
		t.Errorf("an unknown protocol became %d, which the filter would take", in.Rules[0].Proto)
	}
}
