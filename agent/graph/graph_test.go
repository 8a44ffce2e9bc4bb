package graph

import (
	"flag"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/stats"
	"github.com/xenagent/xenagent/agent/token"
)

var update = flag.Bool("update", false, "rewrite golden files")

type fakeSource struct{ s stats.Series }

func (f fakeSource) Series(vmID int64, w stats.Window) (stats.Series, bool, error) {
	s := f.s
	s.VMID, s.Window = vmID, w
	return s, true, nil
}

// daySeries is a day of minutes: a busy afternoon, an hour's gap.
func daySeries() stats.Series {
	n := 1440
	s := stats.Series{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute, Window: stats.Windows["1d"]}
	mk := func(f func(i int) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(i)
			if i >= 600 && i < 660 {
				out[i] = math.NaN()
			}
		}
		return out
	}
	s.CPU = stats.Block{Kind: stats.KindVM}
	s.CPU.Values[stats.CPUUsed] = mk(func(i int) float64 { return 0.2 + 0.6*math.Max(0, math.Sin(float64(i)/230)) })
	s.CPU.Values[stats.VCPUs] = mk(func(int) float64 { return 2 })
	ifc := stats.Block{Kind: stats.KindIface, ID: 21}
	ifc.Values[stats.RxBytes] = mk(func(i int) float64 { return 125000 * (1 + math.Sin(float64(i)/60)) })
	ifc.Values[stats.TxBytes] = mk(func(i int) float64 { return 30000 * (1 + math.Cos(float64(i)/90)) })
	s.Ifaces = []stats.Block{ifc}
	return s
}

func TestGraphRender(t *testing.T) {
	s := daySeries()
	s.VMID = 7
	c, err := ChartOf(s, TargetIface, 21)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Render(&b, c); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{"<svg", "iface 21 traffic", "bit/s", "in (received by the VM)", "out (sent by the VM)", "2 Mbit/s", "time (UTC)", "06:00", "</svg>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// The hour's gap breaks each line in two.
	if got, within := strings.Count(svg, `d="M`), len(regexp.MustCompile(` M\d`).FindAllString(svg, -1)); got != 2 || within != 2 {
		t.Errorf("paths: %d, moves within: %d; want 2 lines broken once each", got, within)
	}
	// The README shows this one: a golden file, rewritten with -update.
	golden := filepath.Join("testdata", "iface-1d.svg")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(svg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || string(want) != svg {
		t.Errorf("SVG differs from %s (go test -update rewrites it): %v", golden, err)
	}
}

func TestGraphFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{{0, "bit/s", "0 bit/s"}, {1500, "B/s", "1.5 kB/s"}, {2e6, "bit/s", "2 Mbit/s"}, {37.25, "%", "37.2%"}, {math.NaN(), "B/s", "-"}} {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestGraphHandler(t *testing.T) {
	iss := token.NewIssuer(token.Limits{})
	tok, _, err := iss.Issue(token.Grant{Purpose: Purpose, VMID: 7, Account: 3, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	console, _, _ := iss.Issue(token.Grant{Purpose: "console", VMID: 7, Account: 3, TTL: time.Hour})
	has := func(vm int64, target string, dev int64) bool {
		return vm == 7 && (target == TargetCPU && dev == 0 || target == TargetDisk && dev == 31)
	}
	gone, _, _ := iss.Issue(token.Grant{Purpose: Purpose, VMID: 8, Account: 3, TTL: time.Hour})
	srv := httptest.NewServer(Handler(iss, fakeSource{daySeries()}, has, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	for _, c := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/graph/" + tok + "/cpu/0.svg?window=1d", 200, "CPU of 2 vCPUs"},
		{"/graph/" + tok + "/iface/21.svg", 200, "iface 21"},
		{"/graph/" + tok + "/iface/21.svg", 200, "iface 21"}, // multi-use
		{"/graph/" + tok + "/disk/31.svg?window=1h", 200, "no data yet"},
		{"/graph/" + tok + "/cpu/0.svg?window=2d", 400, "window:"},
		{"/graph/" + tok + "/cpu/0.svg?windw=1h", 400, "windw: unknown parameter"},
		{"/graph/" + tok + "/cpu/0.svg?window=1h&window=1w", 400, "window: given more than once"},
		{"/graph/" + tok + "/ram/0.svg", 400, "target:"},
		{"/graph/" + tok + "/iface/9.svg", 400, "device:"},
		{"/graph/" + tok + "/iface/x.svg", 400, "device:"},
		{"/graph/nope/cpu/0.svg", 403, "token:"},
		{"/graph/" + console + "/cpu/0.svg", 403, "token:"},
		{"/graph/" + gone + "/cpu/0.svg", 410, "vm 8 no longer exists"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.contains) {
			t.Errorf("GET %s = %d %.120q; want %d with %q", c.path, resp.StatusCode, body, c.code, c.contains)
		}
		if c.code == 200 && resp.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("GET %s: content type %q", c.path, resp.Header.Get("Content-Type"))
		}
	}
}
