package metrics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Buckets for durations in seconds: fsyncs (a millisecond) to operations
// that copy an image or wait for a guest to stop (minutes).
var (
	// FsyncBuckets suits a state commit: one bbolt transaction and its fsync.
	FsyncBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	// OperationBuckets suits an operation, submission to end.
	OperationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}
)

// HistogramValue is a histogram as exposed: the upper bounds (without
// +Inf) and the cumulative count at each.
type HistogramValue struct {
	Bounds     []float64
	Cumulative []uint64
	Sum        float64
	Count      uint64
}

// Histogram counts observations into fixed buckets; safe for concurrent use.
type Histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
}

// NewHistogram returns a histogram with these upper bounds, increasing.
func NewHistogram(bounds []float64) *Histogram {
	if !slices.IsSorted(bounds) || len(slices.Compact(slices.Clone(bounds))) != len(bounds) {
		panic(fmt.Sprintf("metrics: histogram bounds %v are not increasing", bounds))
	}
	return &Histogram{bounds: slices.Clone(bounds), counts: make([]uint64, len(bounds)+1)}
}

// Observe counts v in the first bucket whose bound is at least v.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.mu.Unlock()
}

// Value returns the histogram as exposed.
func (h *Histogram) Value() HistogramValue {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := HistogramValue{Bounds: h.bounds, Cumulative: make([]uint64, len(h.bounds)), Sum: h.sum}
	var n uint64
	for i, c := range h.counts {
		n += c
		if i < len(h.bounds) {
			v.Cumulative[i] = n
		}
	}
	v.Count = n
	return v
}

// HistogramVec is a histogram per label values (per operation type).
type HistogramVec struct {
	bounds []float64
	names  []string
	mu     sync.Mutex
	byKey  map[string]*Histogram
	values map[string][]string
}

// NewHistogramVec returns histograms with these bounds, one per set of
// values of these label names.
func NewHistogramVec(bounds []float64, labelNames ...string) *HistogramVec {
	NewHistogram(bounds) // checks the bounds now, not at the first observation
	return &HistogramVec{bounds: bounds, names: labelNames, byKey: map[string]*Histogram{}, values: map[string][]string{}}
}

// With returns the histogram of these label values, in labelNames' order.
func (v *HistogramVec) With(values ...string) *Histogram {
	if len(values) != len(v.names) {
		panic(fmt.Sprintf("metrics: %d label values for labels %v", len(values), v.names))
	}
	k := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	h := v.byKey[k]
	if h == nil {
		h = NewHistogram(v.bounds)
		v.byKey[k] = h
		v.values[k] = slices.Clone(values)
	}
	return h
}

// Write writes every histogram of the vector as family name.
func (v *HistogramVec) Write(w *Writer, name, help string) {
	v.mu.Lock()
	hs := make(map[string]*Histogram, len(v.byKey))
	for k, h := range v.byKey {
		hs[k] = h
	}
	v.mu.Unlock()
	for k, h := range hs {
		w.Histogram(name, help, h.Value(), pairs(v.names, v.values[k])...)
	}
}

// CounterVec is a counter per label values; safe for concurrent use.
type CounterVec struct {
	names  []string
	mu     sync.Mutex
	counts map[string]float64
	values map[string][]string
}

// NewCounterVec returns counters for these label names.
func NewCounterVec(labelNames ...string) *CounterVec {
	return &CounterVec{names: labelNames, counts: map[string]float64{}, values: map[string][]string{}}
}

// Add adds d (not negative) to the counter of these label values.
func (c *CounterVec) Add(d float64, values ...string) {
	if len(values) != len(c.names) {
		panic(fmt.Sprintf("metrics: %d label values for labels %v", len(values), c.names))
	}
	k := strings.Join(values, "\xff")
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.values[k]; !ok {
		c.values[k] = slices.Clone(values)
	}
	c.counts[k] += d
}

// Write writes every counter as family name.
func (c *CounterVec) Write(w *Writer, name, help string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.counts {
		w.Counter(name, help, n, pairs(c.names, c.values[k])...)
	}
}

func pairs(names, values []string) []string {
	out := make([]string, 0, 2*len(names))
	for i, n := range names {
		out = append(out, n, values[i])
	}
	return out
}
