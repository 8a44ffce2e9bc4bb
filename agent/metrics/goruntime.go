package metrics

import (
	"math"
	"runtime"
	rm "runtime/metrics"
)

// runtimeSamples are what GoRuntime reads, in one runtime/metrics call
// (it does not stop the world, unlike runtime.ReadMemStats).
var runtimeSamples = []struct {
	key, name, help string
	typ             Type
}{
	{"/sched/goroutines:goroutines", "go_goroutines", "Goroutines that exist now.", GaugeType},
	{"/sched/gomaxprocs:threads", "go_gomaxprocs", "GOMAXPROCS: threads running Go code at once.", GaugeType},
	{"/memory/classes/heap/objects:bytes", "go_heap_objects_bytes", "Heap memory held by live objects and by dead ones the GC has not freed yet.", GaugeType},
	{"/memory/classes/total:bytes", "go_memory_mapped_bytes", "All memory the Go runtime mapped (heap, stacks, runtime structures).", GaugeType},
	{"/gc/heap/goal:bytes", "go_gc_heap_goal_bytes", "Heap size at which the next GC cycle starts.", GaugeType},
	{"/gc/cycles/total:gc-cycles", "go_gc_cycles_total", "GC cycles completed.", CounterType},
	{"/gc/heap/allocs:bytes", "go_heap_allocated_bytes_total", "Bytes allocated on the heap since the start.", CounterType},
	{"/sched/pauses/total/gc:seconds", "go_gc_pauses_seconds", "Stop-the-world pauses of the GC (the sum is estimated from the runtime's buckets).", HistogramType},
}

// pauseBuckets re-bucket the runtime's fine GC pause histogram.
var pauseBuckets = []float64{0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1}

// GoRuntime is a collector of the Go runtime's goroutines, memory and
// GC pauses.
func GoRuntime(w *Writer) {
	s := make([]rm.Sample, len(runtimeSamples))
	for i, r := range runtimeSamples {
		s[i].Name = r.key
	}
	rm.Read(s)
	w.Gauge("go_info", "The Go version the agent was built with.", 1, "version", runtime.Version())
	for i, r := range runtimeSamples {
		v := s[i].Value
		switch v.Kind() {
		case rm.KindUint64:
			if r.typ == CounterType {
				w.Counter(r.name, r.help, float64(v.Uint64()))
			} else {
				w.Gauge(r.name, r.help, float64(v.Uint64()))
			}
		case rm.KindFloat64:
			w.Gauge(r.name, r.help, v.Float64())
		case rm.KindFloat64Histogram:
			w.Histogram(r.name, r.help, rebucket(v.Float64Histogram(), pauseBuckets))
		}
		// KindBad: a name this Go version does not know; left out.
	}
}

// rebucket folds a runtime histogram into bounds: a runtime bucket
// [lo, hi) counts under the first bound at least hi, so a count is never
// reported below its value. The sum takes each bucket's middle.
func rebucket(h *rm.Float64Histogram, bounds []float64) HistogramValue {
	v := HistogramValue{Bounds: bounds, Cumulative: make([]uint64, len(bounds))}
	per := make([]uint64, len(bounds)+1)
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		j := len(bounds)
		for k, b := range bounds {
			if hi <= b {
				j = k
				break
			}
		}
		per[j] += c
		v.Count += c
		switch {
		case math.IsInf(lo, -1):
			v.Sum += float64(c) * max(hi, 0)
		case math.IsInf(hi, 1):
			v.Sum += float64(c) * lo
		default:
			v.Sum += float64(c) * (lo + hi) / 2
		}
	}
	var n uint64
	for i := range bounds {
		n += per[i]
		v.Cumulative[i] = n
	}
	return v
}
