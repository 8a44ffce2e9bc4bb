package service

import (
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

func TestHostnameRules(t *testing.T) {
	tests := []struct {
		name         string
		gandi, gigas bool // accepted by each
	}{
		{"web-1", true, true},
		{"a", true, true},
		{"A1-b2", true, true},
		{strings.Repeat("a", 25), true, true},
		{strings.Repeat("a", 26), true, false}, // Gigas: at most 25
		{strings.Repeat("a", 63), true, false},
		{strings.Repeat("a", 64), false, false},
		{"1web", true, false}, // Gigas: not starting with a digit
		{"123", true, false},
		{"-web", false, false},
		{"web-", false, false},
		{"web_1", false, false},
		{"web.example", false, false},
		{"wéb", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		for _, rule := range []struct {
			doc   string
			check func(string) error
			want  bool
		}{{"gandi", GandiHostname, tt.gandi}, {"gigas", GigasHostname, tt.gigas}} {
			err := rule.check(tt.name)
			if (err == nil) != rule.want {
				t.Errorf("%s(%q) = %v, want accepted %v", rule.doc, tt.name, err, rule.want)
			}
			if err != nil && !strings.HasPrefix(err.(*Error).Msg, "hostname: must be") {
				t.Errorf("%s(%q): %q does not name the field and the rule", rule.doc, tt.name, err)
			}
		}
	}
}

// The free texts and the weight are checked on create and on update,
// each naming its field and rule, and reach the record and vm_update.
func TestVMTune(t *testing.T) {
	str := refTo[string]
	tests := []struct {
		name string
		tune VMTune
		err  string
	}{
		{"none", VMTune{}, ""},
		{"all", VMTune{Description: str("web front"), Label: str("Web 1 ✓"), Note: str("line one\n\tline two"), CPUShares: refTo[int64](512)}, ""},
		{"empty texts", VMTune{Description: str(""), Label: str(""), Note: str("")}, ""},
		{"long description", VMTune{Description: str(strings.Repeat("é", MaxLabelChars+1))}, "description: must be at most 255 characters, got 256"},
		{"description of 255 characters", VMTune{Description: str(strings.Repeat("é", MaxLabelChars))}, ""},
		{"multi-line label", VMTune{Label: str("a\nb")}, "label: must be one line without control characters"},
		{"label not UTF-8", VMTune{Label: str("a\xffb")}, "label: must be UTF-8 text"},
		{"note with an escape", VMTune{Note: str("a\x1b[2Jb")}, "note: must not contain control characters other than newline and tab"},
		{"label with a line separator", VMTune{Label: str("a\u2028b")}, "label: must be one line without control characters, got U+2028"},
		{"label with a paragraph separator", VMTune{Label: str("a\u2029b")}, "label: must be one line without control characters, got U+2029"},
		{"note with a line separator", VMTune{Note: str("a\u2028b")}, ""},
		{"label with a right-to-left override", VMTune{Label: str("invoice\u202egpj.exe")}, "label: must not contain bidirectional overrides, embeddings or isolates, got U+202E"},
		{"description with a left-to-right embedding", VMTune{Description: str("a\u202ab")}, "description: must not contain bidirectional overrides, embeddings or isolates, got U+202A"},
		{"note with a first-strong isolate", VMTune{Note: str("a\u2068b\u2069")}, "note: must not contain bidirectional overrides, embeddings or isolates, got U+2068"},
		{"label in Hebrew and Latin, with a mark", VMTune{Label: str("שרת web\u200f 1")}, ""},
		{"long note", VMTune{Note: str(strings.Repeat("n", MaxNoteChars+1))}, "note: must be at most 4096 characters"},
		{"cpu_shares 0", VMTune{CPUShares: refTo[int64](0)}, "cpu_shares: must be from 1 to 10000"},
		{"cpu_shares too high", VMTune{CPUShares: refTo[int64](10001)}, "cpu_shares: must be from 1 to 10000"},
		{"cpu_shares 1", VMTune{CPUShares: refTo[int64](1)}, ""},
	}
	s := testVMService()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.vmReqOf(VMSpec{DatacenterID: 1, Hostname: "web", VMTune: tt.tune})
			wantVMErr(t, err, tt.err)
			params, _, uerr := vmUpdateParams(VMUpdate{VMTune: tt.tune})
			if tt.tune == (VMTune{}) {
				wantVMErr(t, uerr, "update_spec: nothing to change")
				return
			}
			wantVMErr(t, uerr, tt.err)
			if err != nil {
				return
			}
			var v store.VM
			r.tune.apply(&v)
			in := vmUpdateInput(VMUpdate{VMTune: tt.tune})
			for _, f := range []struct {
				key       string
				given     *string
				got, sent *string
			}{{"description", tt.tune.Description, &v.Description, in.Description},
				{"label", tt.tune.Label, &v.Label, in.Label}, {"note", tt.tune.Note, &v.Note, in.Note}} {
				if f.given == nil {
					continue
				}
				if *f.got != *f.given || f.sent == nil || *f.sent != *f.given || params[f.key] != *f.given || !workflow.IsClientParam(f.key) {
					t.Errorf("%s: record %q, input %v, param %q; want %q, shown to the client", f.key, *f.got, f.sent, params[f.key], *f.given)
				}
			}
			if c := tt.tune.CPUShares; c != nil && (v.CPUShares != *c || in.CPUShares == nil || *in.CPUShares != *c || !workflow.IsClientParam("cpu_shares")) {
				t.Errorf("cpu_shares: record %d, input %v; want %d", v.CPUShares, in.CPUShares, *c)
			}
		})
	}
}

// 0 is unlimited wherever a bandwidth is given; anything else is a rate
// within the bounds.
func TestUnlimitedBandwidth(t *testing.T) {
	s := testVMService()
	s.cfg.Network.MinBandwidth = 8000
	wantVMErr(t, s.checkBandwidth(ObjIface, Unlimited), "bandwidth: unlimited is not allowed on this host (limits.allow_unlimited_bandwidth is off)")
	s.cfg.Limits.AllowUnlimited = true
	r, err := s.vmReqOf(VMSpec{DatacenterID: 1, Hostname: "web", Bandwidth: refTo(Unlimited)})
	if err != nil || r.bandwidth != Unlimited {
		t.Fatalf("unlimited VM: bandwidth %v, %v", r.bandwidth, err)
	}
	for bw, want := range map[float64]string{Unlimited: "", 8000: "", 1: "bandwidth: must be from 8000 to 10000000000 bit/s, or 0 for unlimited, got 1", -1: "bandwidth: must be from", 2e10: "bandwidth: must be from"} {
		wantVMErr(t, s.checkBandwidth(ObjIface, bw), want)
	}
}
