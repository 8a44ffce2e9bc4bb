package gandi

import "github.com/xenagent/xenagent/agent/service"

// The face's side of tuning (agent/service/tune.go): extensions of the
// seed's VMDescription, VMCreateFromDescription, VMUpdate and iface
// specs, documented in README.md.

// unlimitedBandwidth is the extension value of a bandwidth that is no
// limit at all: the iface is not shaped (the service's Unlimited).
const unlimitedBandwidth = "unlimited"

// bandwidth reads a bandwidth in bit/s, or "unlimited"; nil when absent.
// A 0 is refused rather than taken for unlimited: in the seed it is a
// rate like any other, and a client that computed one must not lift its
// VM's limit by mistake.
func bandwidth(sp *spec) (*float64, error) {
	v, present, err := sp.val("bandwidth")
	if err != nil || !present {
		return nil, err
	}
	var bw float64
	switch x := v.(type) {
	case float64:
		bw = x
	case int64:
		bw = float64(x)
	case string:
		if x != unlimitedBandwidth {
			return nil, wrongType(sp.obj, "bandwidth", `a number (int or double) or "unlimited"`, v)
		}
		bw = service.Unlimited
		return &bw, nil
	default:
		return nil, wrongType(sp.obj, "bandwidth", `a number (int or double) or "unlimited"`, v)
	}
	if bw == 0 {
		return nil, service.Invalid(sp.obj, "bandwidth", `0 is no rate: give bit/s, or "unlimited" for no limit`)
	}
	return &bw, nil
}

// renderBandwidth is an iface's bandwidth as its spec takes it: bit/s
// (a double, as the seed's), or "unlimited".
func renderBandwidth(bw float64) any {
	if bw == service.Unlimited {
		return unlimitedBandwidth
	}
	return bw
}

// vmTune reads the extension fields description, label and note (free
// texts) and cpu_shares (the CPU weight). The seed's "shares" stays
// what the seed says: accepted, and without effect.
func vmTune(sp *spec, t *service.VMTune) (err error) {
	for key, dst := range map[string]**string{"description": &t.Description, "label": &t.Label, "note": &t.Note} {
		if *dst, err = sp.strPtr(key); err != nil {
			return err
		}
	}
	t.CPUShares, err = sp.intPtr("cpu_shares")
	return err
}

// renderTune adds the extension fields to a VMReturn.
func renderTune(out map[string]any, v service.VM) {
	out["label"], out["note"], out["cpu_shares"] = v.Label, v.Note, v.CPUShares
}
