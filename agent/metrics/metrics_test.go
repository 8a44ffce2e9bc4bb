package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/metrics/metricstest"
)

func TestWrite(t *testing.T) {
	h := NewHistogram([]float64{0.1, 1, 10})
	for _, v := range []float64{0.05, 0.1, 0.5, 3, 20} {
		h.Observe(v)
	}
	tests := []struct {
		name    string
		collect Collector
		want    string // the whole page
		wantErr string // in the error, when a sample is dropped
	}{
		{"counter and gauge sorted by family, HELP and TYPE once", func(w *Writer) {
			w.Gauge("b_gauge", "A gauge.", 2.5, "x", "1")
			w.Counter("a_total", "A counter.", 3)
			w.Gauge("b_gauge", "A gauge.", -1, "x", "0")
		}, "# HELP a_total A counter.\n# TYPE a_total counter\na_total 3\n" +
			"# HELP b_gauge A gauge.\n# TYPE b_gauge gauge\nb_gauge{x=\"0\"} -1\nb_gauge{x=\"1\"} 2.5\n", ""},
		{"label values and help escaped", func(w *Writer) {
			w.Gauge("esc", "Back\\slash and\nnewline.", 1, "v", "a\"b\\c\nd")
		}, "# HELP esc Back\\\\slash and\\nnewline.\n# TYPE esc gauge\nesc{v=\"a\\\"b\\\\c\\nd\"} 1\n", ""},
		{"histogram cumulative with sum and count", func(w *Writer) {
			w.Histogram("lat_seconds", "Latency.", h.Value(), "op", "x")
		}, "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n" +
			"lat_seconds_bucket{op=\"x\",le=\"0.1\"} 2\nlat_seconds_bucket{op=\"x\",le=\"1\"} 3\nlat_seconds_bucket{op=\"x\",le=\"10\"} 4\n" +
			"lat_seconds_bucket{op=\"x\",le=\"+Inf\"} 5\nlat_seconds_sum{op=\"x\"} 23.65\nlat_seconds_count{op=\"x\"} 5\n", ""},
		{"special values", func(w *Writer) {
			w.Gauge("v", "V.", math.Inf(1), "k", "inf")
			w.Gauge("v", "V.", math.NaN(), "k", "nan")
			w.Gauge("v", "V.", 1e20, "k", "big")
			w.Gauge("v", "V.", 1<<40, "k", "bytes")
		}, "# HELP v V.\n# TYPE v gauge\nv{k=\"big\"} 1e+20\nv{k=\"bytes\"} 1099511627776\nv{k=\"inf\"} +Inf\nv{k=\"nan\"} NaN\n", ""},
		{"a second type is dropped", func(w *Writer) {
			w.Counter("m", "M.", 1)
			w.Gauge("m", "M.", 2)
		}, "# HELP m M.\n# TYPE m counter\nm 1\n", "m: written as a counter and as a gauge"},
		{"a second help is dropped", func(w *Writer) {
			w.Counter("m", "M.", 1)
			w.Counter("m", "Other.", 2, "a", "b")
		}, "# HELP m M.\n# TYPE m counter\nm 1\n", "two helps"},
		{"bad names are dropped", func(w *Writer) {
			w.Gauge("1bad", "B.", 1)
			w.Gauge("ok", "O.", 1, "bad-label", "x")
			w.Gauge("ok", "O.", 1, "__reserved", "x")
			w.Gauge("ok", "O.", 1, "odd")
			w.Histogram("h", "H.", h.Value(), "le", "1")
		}, "", "not a metric name"},
		{"empty", func(w *Writer) {}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			r.Register(tt.collect)
			var b strings.Builder
			err := r.Write(&b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tt.wantErr)
			}
			if b.String() != tt.want {
				t.Errorf("page:\n%s\nwant:\n%s", b.String(), tt.want)
			}
			metricstest.Check(t, []byte(b.String()))
		})
	}
}

func TestVecs(t *testing.T) {
	hv := NewHistogramVec([]float64{1, 2}, "type")
	hv.With("vm_create").Observe(1.5)
	hv.With("vm_stop").Observe(0.5)
	hv.With("vm_create").Observe(3)
	cv := NewCounterVec("type", "result")
	cv.Add(1, "vm_create", "done")
	cv.Add(2, "vm_create", "done")
	cv.Add(1, "vm_stop", "error")
	r := NewRegistry()
	r.Register(func(w *Writer) { hv.Write(w, "op_seconds", "Ops.") })
	r.Register(func(w *Writer) { cv.Write(w, "ops_total", "Ops ended.") })
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Check(t, []byte(b.String()))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"op_seconds_count", []string{"type", "vm_create"}, 2},
		{"op_seconds_sum", []string{"type", "vm_create"}, 4.5},
		{"op_seconds_bucket", []string{"type", "vm_create", "le", "2"}, 1},
		{"op_seconds_bucket", []string{"type", "vm_stop", "le", "1"}, 1},
		{"ops_total", []string{"type", "vm_create", "result", "done"}, 3},
		{"ops_total", []string{"type", "vm_stop", "result", "error"}, 1},
	} {
		if got := p.Find(c.name, c.labels...); len(got) != 1 || got[0].Value != c.want {
			t.Errorf("%s%v = %v, want one sample of %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestGoRuntime(t *testing.T) {
	r := NewRegistry()
	r.Register(GoRuntime)
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Check(t, []byte(b.String()))
	for _, name := range []string{"go_goroutines", "go_heap_objects_bytes", "go_gc_pauses_seconds_count", "go_gc_cycles_total", "go_info"} {
		if len(p.Find(name)) == 0 {
			t.Errorf("no %s:\n%s", name, b.String())
		}
	}
	if p.Sum("go_goroutines") < 1 {
		t.Error("no goroutine counted")
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.Register(func(w *Writer) { w.Gauge("up", "Up.", 1) })
	var logged error
	r.Register(func(w *Writer) { w.Gauge("bad name", "B.", 1) })
	srv := httptest.NewServer(r.Handler(func(err error) { logged = err }))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != ContentType || string(body) != "# HELP up Up.\n# TYPE up gauge\nup 1\n" {
		t.Errorf("%s %q", resp.Header.Get("Content-Type"), body)
	}
	if logged == nil {
		t.Error("the dropped sample was not reported")
	}
	resp, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// The checker itself refuses what Prometheus would (or what this package
// promises never to write).
func TestCheckerRefuses(t *testing.T) {
	for name, page := range map[string]string{
		"no newline":      "# HELP a A.\n# TYPE a gauge\na 1",
		"no type":         "# HELP a A.\na 1\n",
		"unsorted":        "# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n# TYPE a gauge\na 1\n",
		"family twice":    "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n",
		"bad value":       "# HELP a A.\n# TYPE a gauge\na one\n",
		"bad label":       "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",
		"bad escape":      "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
		"not cumulative":  "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		"inf below count": "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
		"stray sample":    "# HELP a A.\n# TYPE a gauge\nb 1\n",
		"empty line":      "# HELP a A.\n# TYPE a gauge\n\na 1\n",
	} {
		if _, errs := metricstest.Parse(page); len(errs) == 0 {
			t.Errorf("%s: accepted %q", name, page)
		}
	}
}
