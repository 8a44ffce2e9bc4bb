package wire

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/testenv"
	"github.com/xenagent/xenagent/network/shaper"
)

// iperf measures TCP for 2 s between the host and the guest at 10.8.0.5:
// to the VM (the host sends), or from it (reverse: the guest sends).
// It returns what the receiver counted, in bit/s.
func (r *rig) iperf(t *testing.T, fromVM bool) float64 {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", r.guest.Name, "iperf3", "-s", "-1", "-p", "5299")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	args := []string{"iperf3", "-c", "10.8.0.5", "-p", "5299", "-t", "2", "-J"}
	if fromVM {
		args = append(args, "-R")
	}
	type result struct {
		Error string `json:"error"`
		End   struct {
			Received struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var res result
	for try := 0; ; try++ {
		// iperf3 -J may exit 0 with its error in the JSON: a server not
		// listening yet is one, tried again.
		out, err := r.host.Run(args...)
		res = result{}
		if jerr := json.Unmarshal([]byte(out), &res); jerr != nil && err == nil {
			t.Fatalf("iperf3 output: %v\n%s", jerr, out)
		}
		if err == nil && res.Error == "" {
			break
		}
		if try == 50 {
			t.Fatalf("iperf3: %v, %s\n%s", err, res.Error, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return res.End.Received.BitsPerSecond
}

// An unlimited iface is filtered and not shaped at all: its qdiscs and
// IFB go, and real TCP both ways runs far past the rate it had; a rate
// shapes it again. Measured with iperf3 through the real wiring.
func TestWireUnlimitedTraffic(t *testing.T) {
	testenv.Tool(t, "iperf3", "iperf3")
	r := newRig(t)
	r.plug(t, "vif3.0")
	r.host.Addr(t, "xabr0", "10.8.0.1/24")
	r.guest.Addr(t, "eth0", "10.8.0.5/24")
	ctx := context.Background()
	const rate = 2_000_000
	limited := iface("vif3.0", rate)
	unlimited := iface("vif3.0", 0)
	unlimited.Unlimited = true

	measure := func(what string, check func(bps float64) bool) {
		t.Helper()
		for _, fromVM := range []bool{false, true} {
			if bps := r.iperf(t, fromVM); !check(bps) {
				t.Errorf("%s, from the VM %v: %.2f Mbit/s", what, fromVM, bps/1e6)
			} else {
				t.Logf("%s, from the VM %v: %.2f Mbit/s", what, fromVM, bps/1e6)
			}
		}
	}
	if err := r.w.Wire(ctx, limited); err != nil {
		t.Fatal(err)
	}
	measure("limited to 2 Mbit/s", func(bps float64) bool { return bps > 0.5*rate && bps < 1.25*rate })

	if err := r.w.Wire(ctx, unlimited); err != nil {
		t.Fatal(err)
	}
	if err := r.w.Settle(); err != nil {
		t.Fatal(err)
	}
	if st, err := r.w.Inspect(5, "vif3.0"); err != nil || st != (State{Filtered: true, Dev: "vif3.0"}) {
		t.Fatalf("unlimited: state %+v, %v; want filtered, not shaped", st, err)
	}
	if _, err := r.host.H.LinkByName(IFBName(5)); err == nil {
		t.Error("unlimited: the IFB is still there")
	}
	// Past ten times the old rate: nothing shapes it any more.
	measure("unlimited", func(bps float64) bool { return bps > 10*rate })

	if err := r.w.Wire(ctx, limited); err != nil {
		t.Fatal(err)
	}
	want := State{Shaping: shaper.State{ToVM: rate, FromVM: rate, Redirected: true}, Filtered: true, Dev: "vif3.0"}
	if st, err := r.w.Inspect(5, "vif3.0"); err != nil || st != want {
		t.Fatalf("limited again: state %+v, %v; want %+v", st, err, want)
	}
	// Unlimited without saying so is still refused: a forgotten rate
	// never lifts the limit.
	if err := r.w.Wire(ctx, iface("vif3.0", 0)); err == nil {
		t.Error("a zero bandwidth without Unlimited was wired")
	}
}
