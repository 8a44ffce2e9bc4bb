// Package metrics writes the Prometheus text exposition format (0.0.4)
// without any dependency: counters, gauges and histograms (cumulative
// buckets, _sum, _count), with escaped label values, HELP and TYPE once
// per family and families sorted by name.
//
// Nothing is kept between scrapes but what the rooms that know a value
// keep themselves: a Collector is a function registered on a Registry at
// composition (cmd/xenagent), called at every scrape with a Writer it
// adds samples to. A package that counts events (the store's commit
// latency, the engine's operation durations) keeps a Histogram or a
// CounterVec, safe for concurrent use, and writes it from its collector.
//
// A sample that cannot be exposed (a bad metric or label name, a family
// written as two types or with two helps) is dropped and reported by
// Registry.Write, so that one wrong collector never makes the whole
// page unparseable for Prometheus.
package metrics
