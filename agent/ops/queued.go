package ops

// Queued returns every unfinished operation the engine knows, in no
// order (those created in a transaction not yet durable included). The
// slice is the caller's. Quotas read it to count what queued updates
// will change (agent/service/quota.go): one call instead of one per
// resource.
func (e *Engine) Queued() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]int64, 0, len(e.queued))
	for id := range e.queued {
		out = append(out, id)
	}
	return out
}
