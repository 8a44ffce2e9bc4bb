package hypervisor

import (
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/metrics"
	"github.com/xenagent/xenagent/agent/metrics/metricstest"
)

// A dropped connection is made again and counted.
func TestConnectionMetrics(t *testing.T) {
	d := openTest(t)
	scrape := func() metricstest.Page {
		reg := metrics.NewRegistry()
		reg.Register(d.WriteMetrics)
		var b strings.Builder
		if err := reg.Write(&b); err != nil {
			t.Fatal(err)
		}
		return metricstest.Check(t, []byte(b.String()))
	}
	if p := scrape(); p.Sum("xenagent_libvirt_connected", "uri", "test:///default") != 1 || p.Sum("xenagent_libvirt_reconnects_total") != 0 {
		t.Fatalf("at start: %+v", p.Samples)
	}
	d.mu.Lock()
	conn := d.conn
	d.mu.Unlock()
	d.dropConn(conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := scrape()
		if p.Sum("xenagent_libvirt_reconnects_total") == 1 && p.Sum("xenagent_libvirt_connected") == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a reconnect: %+v", p.Samples)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
