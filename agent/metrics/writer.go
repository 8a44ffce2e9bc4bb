package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Type is a metric family's type.
type Type string

// The types written.
const (
	CounterType   Type = "counter"
	GaugeType     Type = "gauge"
	HistogramType Type = "histogram"
)

// Writer gathers one scrape's samples by family. Collectors call its
// methods; labels are name, value pairs.
type Writer struct {
	fams map[string]*family
	errs []error
}

type family struct {
	name, help string
	typ        Type
	series     []series
}

// series is one label set's lines (one for a counter or gauge, the
// buckets, sum and count for a histogram), kept together when sorting.
type series struct {
	labels string // rendered, sorted by
	text   string // its lines, each ending in a newline
}

func newWriter() *Writer { return &Writer{fams: map[string]*family{}} }

// Counter adds a counter sample: a value that only goes up (resets at restart).
func (w *Writer) Counter(name, help string, v float64, labels ...string) {
	w.sample(name, help, CounterType, v, labels)
}

// Gauge adds a gauge sample: a value that goes up and down.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.sample(name, help, GaugeType, v, labels)
}

func (w *Writer) sample(name, help string, typ Type, v float64, labels []string) {
	f, ls, ok := w.family(name, help, typ, labels)
	if !ok {
		return
	}
	var b strings.Builder
	b.Grow(len(name) + len(ls) + 24)
	b.WriteString(name)
	if ls != "" {
		b.WriteByte('{')
		b.WriteString(ls)
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatValue(v))
	b.WriteByte('\n')
	f.series = append(f.series, series{labels: ls, text: b.String()})
}

// Histogram adds one histogram series: cumulative buckets with the le
// label, then _sum and _count.
func (w *Writer) Histogram(name, help string, h HistogramValue, labels ...string) {
	for i := range labels {
		if i%2 == 0 && labels[i] == "le" {
			w.errs = append(w.errs, fmt.Errorf("%s: le is the bucket label of a histogram, not a label of its own", name))
			return
		}
	}
	if len(h.Cumulative) != len(h.Bounds) {
		w.errs = append(w.errs, fmt.Errorf("%s: %d bounds and %d bucket counts", name, len(h.Bounds), len(h.Cumulative)))
		return
	}
	f, ls, ok := w.family(name, help, HistogramType, labels)
	if !ok {
		return
	}
	sep := ""
	if ls != "" {
		sep = ","
	}
	var b strings.Builder
	for i, bound := range h.Bounds {
		fmt.Fprintf(&b, "%s_bucket{%s%sle=\"%s\"} %d\n", name, ls, sep, formatValue(bound), h.Cumulative[i])
	}
	fmt.Fprintf(&b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, ls, sep, h.Count)
	fmt.Fprintf(&b, "%s_sum%s %s\n%s_count%s %d\n", name, braces(ls), formatValue(h.Sum), name, braces(ls), h.Count)
	f.series = append(f.series, series{labels: ls, text: b.String()})
}

// family returns name's family, made on first use, and the rendered
// labels; false drops the sample, with the reason kept.
func (w *Writer) family(name, help string, typ Type, labels []string) (*family, string, bool) {
	if !validName(name, true) {
		w.errs = append(w.errs, fmt.Errorf("%q: not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", name))
		return nil, "", false
	}
	ls, err := renderLabels(labels)
	if err != nil {
		w.errs = append(w.errs, fmt.Errorf("%s: %w", name, err))
		return nil, "", false
	}
	f := w.fams[name]
	switch {
	case f == nil:
		f = &family{name: name, help: help, typ: typ}
		w.fams[name] = f
	case f.typ != typ:
		w.errs = append(w.errs, fmt.Errorf("%s: written as a %s and as a %s", name, f.typ, typ))
		return nil, "", false
	case f.help != help:
		w.errs = append(w.errs, fmt.Errorf("%s: two helps, %q and %q", name, f.help, help))
		return nil, "", false
	}
	return f, ls, true
}

// write writes the families sorted by name, each series sorted by its
// labels (a family with two series of one label set keeps both, in no
// set order: the caller's mistake stays visible).
func (w *Writer) write(out io.Writer) error {
	bw := bufio.NewWriter(out)
	names := make([]string, 0, len(w.fams))
	for n := range w.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := w.fams[n]
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		slices.SortFunc(f.series, func(a, b series) int { return strings.Compare(a.labels, b.labels) })
		for _, s := range f.series {
			bw.WriteString(s.text)
		}
	}
	return bw.Flush()
}

func (w *Writer) err() error { return errors.Join(w.errs...) }

func braces(ls string) string {
	if ls == "" {
		return ""
	}
	return "{" + ls + "}"
}

// renderLabels renders name="value" pairs in the given order.
func renderLabels(labels []string) (string, error) {
	if len(labels)%2 != 0 {
		return "", fmt.Errorf("labels %q: not name, value pairs", labels)
	}
	if len(labels) == 0 {
		return "", nil
	}
	size := 0
	for _, l := range labels {
		size += len(l) + 4
	}
	var b strings.Builder
	b.Grow(size)
	for i := 0; i < len(labels); i += 2 {
		n := labels[i]
		if !validName(n, false) || strings.HasPrefix(n, "__") {
			return "", fmt.Errorf("label %q: not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)", n)
		}
		for j := 0; j < i; j += 2 { // a handful of labels: no map
			if labels[j] == n {
				return "", fmt.Errorf("label %q: given twice", n)
			}
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(labels[i+1]))
		b.WriteByte('"')
	}
	return b.String(), nil
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r == ':' && colon:
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s // most values: ids, names
	}
	return labelEscaper.Replace(s)
}
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// formatValue writes integers as integers (byte counts stay readable)
// and the rest in Go's shortest form, which Prometheus parses.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
