package hypervisor

import "github.com/xenagent/xenagent/agent/metrics"

// WriteMetrics is the driver's collector: whether the libvirt connection
// is up now and how often it was made again since the start.
func (d *Driver) WriteMetrics(w *metrics.Writer) {
	d.mu.Lock()
	up := d.conn != nil
	d.mu.Unlock()
	v := 0.0
	if up {
		v = 1
	}
	w.Gauge("xenagent_libvirt_connected", "1 while the agent holds a live connection to libvirtd, 0 while it reconnects.", v, "uri", d.cfg.URI)
	w.Counter("xenagent_libvirt_reconnects_total", "Connections to libvirtd made again after one was lost.", float64(d.reconnects.Load()), "uri", d.cfg.URI)
}
