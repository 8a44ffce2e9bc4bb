package wire

import (
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/network/antispoof"
)

var protos = map[host.Protocol]antispoof.Proto{
	host.ProtoAll: antispoof.ProtoAll, host.ProtoTCP: antispoof.ProtoTCP,
	host.ProtoUDP: antispoof.ProtoUDP, host.ProtoICMP: antispoof.ProtoICMP,
}

// inbound is the filter's form of an interface's firewall. An unknown
// protocol is passed on as one the filter refuses.
func inbound(fw *host.Firewall) *antispoof.Inbound {
	if fw == nil {
		return nil
	}
	in := &antispoof.Inbound{DropByDefault: fw.DropByDefault, Rules: make([]antispoof.Rule, 0, len(fw.Rules))}
	for _, r := range fw.Rules {
		p, ok := protos[r.Protocol]
		if !ok {
			p = antispoof.Proto(255)
		}
		in.Rules = append(in.Rules, antispoof.Rule{Proto: p, PortMin: r.PortMin, PortMax: r.PortMax, Source: r.Source, Drop: r.Drop})
	}
	return in
}
