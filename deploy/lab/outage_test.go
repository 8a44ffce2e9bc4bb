package lab

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A pinger measures how long a guest stops answering (the downtime of a
// move between hosts, issue 15): iputils ping in a dom0, 5 probes a
// second with -D timestamps, in the background until stopped.
type pinger struct {
	s    *scenario
	ip   string
	file string
}

const pingEvery = 200 * time.Millisecond

// startPinger starts pinging ip from this host's dom0.
func (s *scenario) startPinger(ip string) *pinger {
	s.t.Helper()
	p := &pinger{s: s, ip: ip, file: "/tmp/pinger-" + ip}
	// All its streams away from ssh's, or ssh waits for it to end; its
	// pid kept, to stop this one and no other.
	s.dom0(fmt.Sprintf(`sh -c 'timeout 1800 ping -D -n -i %.1f -W1 %s > %s.log 2>&1 < /dev/null & echo $! > %s.pid' > /dev/null 2>&1 < /dev/null`,
		pingEvery.Seconds(), ip, p.file, p.file))
	return p
}

// stop ends the pinger and returns the longest time the guest did not
// answer (from a reply to the next, or to now), and the replies.
func (p *pinger) stop() (time.Duration, int) {
	p.s.t.Helper()
	out := p.s.dom0(fmt.Sprintf(`date +%%s.%%N; kill $(cat %[1]s.pid); cat %[1]s.log; rm -f %[1]s.pid %[1]s.log`, p.file))
	end, log, _ := strings.Cut(out, "\n")
	gap, replies, err := longestGap(log, end)
	if err != nil {
		p.s.t.Fatalf("pinger of %s: %v\n%s", p.ip, err, out)
	}
	return gap, replies
}

// longestGap reads `ping -D` output (lines "[1733230000.123456] 64 bytes
// from ...") and the time it was stopped (seconds since the epoch): the
// longest time from a reply to the next or to the end, and how many
// replies there were. With none, the gap is the whole run unknown: error.
func longestGap(out, end string) (time.Duration, int, error) {
	stop, err := strconv.ParseFloat(strings.TrimSpace(end), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("end %q: not seconds since the epoch", end)
	}
	var last, gap float64
	replies := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "[") || !strings.Contains(line, " bytes from ") {
			continue
		}
		ts, _, ok := strings.Cut(line[1:], "]")
		at, err := strconv.ParseFloat(ts, 64)
		if !ok || err != nil {
			return 0, 0, fmt.Errorf("reply line %q: no [seconds] timestamp", line)
		}
		if replies > 0 && at-last > gap {
			gap = at - last
		}
		last = at
		replies++
	}
	if replies == 0 {
		return 0, 0, fmt.Errorf("no reply at all")
	}
	if stop-last > gap {
		gap = stop - last
	}
	return time.Duration(gap * float64(time.Second)).Round(time.Millisecond), replies, nil
}

func TestLongestGap(t *testing.T) {
	reply := func(at string) string {
		return "[" + at + "] 64 bytes from 10.99.0.10: icmp_seq=1 ttl=64 time=0.9 ms"
	}
	for _, tc := range []struct {
		name    string
		out     string
		end     string
		gap     time.Duration
		replies int
		err     bool
	}{
		{"steady", "PING 10.99.0.10 (10.99.0.10) 56(84) bytes of data.\n" + reply("100.0") + "\n" + reply("100.2") + "\n" + reply("100.4"), "100.5",
			200 * time.Millisecond, 3, false},
		{"an outage in the middle", reply("100.0") + "\n" + reply("100.2") + "\nFrom 10.99.0.2 icmp_seq=3 Destination Host Unreachable\n" + reply("104.7") + "\n" + reply("104.9"), "105.0",
			4500 * time.Millisecond, 4, false},
		{"down at the end", reply("100.0") + "\n" + reply("100.2"), "103.2", 3 * time.Second, 2, false},
		{"never answered", "PING 10.99.0.10 (10.99.0.10) 56(84) bytes of data.\n", "100.0", 0, 0, true},
		{"bad end", reply("100.0"), "", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gap, n, err := longestGap(tc.out, tc.end)
			if (err != nil) != tc.err || gap != tc.gap || n != tc.replies {
				t.Fatalf("longestGap = %v, %d, %v; want %v, %d, error %v", gap, n, err, tc.gap, tc.replies, tc.err)
			}
		})
	}
}
