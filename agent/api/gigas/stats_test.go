package gigas

import (
	"strings"
	"testing"
)

// bw_stats serves the document's four periods; -1Y answers the longest
// span the collector keeps, a month, and date_from/date_to say so.
func TestBWStatsPeriods(t *testing.T) {
	a := newAgent(t)
	path := a.vmPath(a.alice, a.createVM("bw1")) + "/bw_stats?period="
	const month = 30 * 24 * 3600
	for _, tc := range []struct {
		period string
		status int
		span   float64 // date_to - date_from, seconds
		msg    string
	}{
		{"-1H", 200, 3600, ""},
		{"-1day", 200, 24 * 3600, ""},
		{"-1M", 200, month, ""},
		{"-1Y", 200, month, ""},
		{"-2Y", 400, 0, "period: must be one of -1H, -1day, -1M, -1Y"},
		{"", 400, 0, "period: missing parameter (one of -1H, -1day, -1M, -1Y)"},
	} {
		t.Run(tc.period, func(t *testing.T) {
			r := a.must(tc.status, aliceKey, "GET", path+tc.period, nil)
			o := r.obj()
			if tc.status != 200 {
				if msg, _ := o["message"].(string); !strings.HasPrefix(msg, tc.msg) {
					t.Fatalf("message %q, want %q", msg, tc.msg)
				}
				return
			}
			if span := o["date_to"].(float64) - o["date_from"].(float64); span != tc.span || len(o["traffic"].([]any)) == 0 {
				t.Fatalf("span %v s, want %v: %s", span, tc.span, r.raw)
			}
		})
	}
}

// cpu_stats' refusals name its own periods, which are not bw_stats'.
func TestCPUStatsPeriodRefusals(t *testing.T) {
	a := newAgent(t)
	path := a.vmPath(a.alice, a.createVM("cpu1")) + "/cpu_stats"
	for _, tc := range []struct{ query, msg string }{
		{"", "period: missing parameter (one of -1H, -1day, -30days)"},
		{"?period=-1M", `period: must be one of -1H, -1day, -30days, got "-1M"`},
	} {
		r := a.must(400, aliceKey, "GET", path+tc.query, nil)
		if msg, _ := r.obj()["message"].(string); msg != tc.msg {
			t.Fatalf("%q: message %q, want %q", tc.query, msg, tc.msg)
		}
	}
}
