package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bootTwoHosts makes hosts A and B of the two-host lab from one build
// and boots them in parallel. Each scenario has the agent's demo key
// (c) and the operator key (op) of its own host.
func bootTwoHosts(ctx context.Context, t *testing.T, repo, cache string, to Timeouts) (a, b *scenario) {
	t.Helper()
	run := t.TempDir()
	keys := map[string]string{}
	agent := func(h Host) string {
		raw := make([]byte, 16)
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		keys[h.Name] = hex.EncodeToString(raw)
		return AgentConfig(Agent{Timeouts: to, Host: h, OperatorKey: keys[h.Name]})
	}
	start := time.Now()
	la, lb, err := NewPair(ctx, repo, cache, run, t.Logf, agent)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("two hosts prepared (one build, two overlays and shares) in %v", time.Since(start).Round(time.Second))
	t.Cleanup(la.Kill)
	t.Cleanup(lb.Kill)
	var hosts [2]*scenario
	for i, l := range []*Lab{la, lb} {
		hosts[i] = &scenario{t: t, ctx: ctx, l: l}
		// After Kill's cleanup, so before it: the machine is still up.
		t.Cleanup(hosts[i].dumpIfFailed)
	}
	start = time.Now()
	if err := BootAll(ctx, la, lb); err != nil {
		t.Fatal(err)
	}
	t.Logf("two hosts booted in parallel in %v: A (%d vCPU, %d MB) in %v, B (%d vCPU, %d MB) in %v",
		time.Since(start).Round(time.Second), HostA.CPUs, HostA.MemoryMB, la.BootTime.Round(time.Second),
		HostB.CPUs, HostB.MemoryMB, lb.BootTime.Round(time.Second))
	for _, s := range hosts {
		url := s.l.URL()
		s.c = &client{t: t, url: url, key: s.dom0("cat /var/lib/xenagent/apikey")}
		s.op = &client{t: t, url: url, key: keys[s.l.Host().Name]}
	}
	return hosts[0], hosts[1]
}

// dumpIfFailed logs what the host's agent and storage say when the test
// failed (a cleanup: the test's context is gone, the machine is not).
func (s *scenario) dumpIfFailed() {
	if !s.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := s.l.Host().Name
	out, _ := s.l.Exec(ctx, "journalctl -u xenagent --no-pager | grep -v 'msg=call' | tail -60")
	s.t.Logf("host %s: agent journal:\n%s", name, out)
	// A crash's head (the signal, the faulting goroutine) is far
	// above a tail of its all-goroutine dump.
	out, _ = s.l.Exec(ctx, "journalctl -u xenagent --no-pager | grep -A 30 -E 'SIGSEGV|SIGABRT|SIGBUS|fatal error|^.{0,60}panic: ' | head -80")
	s.t.Logf("host %s: agent crashes (head):\n%s", name, out)
	out, _ = s.l.Exec(ctx, "lvs -o lv_name,lv_active,origin,lv_attr labvg; tail -n 15 /var/log/libvirt/libxl/*.log; ip -br addr; bridge link")
	s.t.Logf("host %s: LVs, libxl logs, links:\n%s", name, out)
}

// twoHostScenario runs with both hosts fresh: each agent answers
// hosting.host.info for its own host, the dom0s and the agents reach each
// other over the guests' segment, and a PV guest started on A answers
// ping at its address from B's dom0. It leaves A as it found it and
// powers B down: the single-host scenarios run on A alone.
func (s *scenario) twoHostScenario(b *scenario) {
	t := s.t
	begin := time.Now()
	infoA, infoB := s.hostInfo(), b.hostInfo()
	if infoA["memory_total_mb"].(int64) <= infoB["memory_total_mb"].(int64) {
		t.Fatalf("host.info: A has %v MB, B %v MB: not two hosts sized as configured (A %d MB, B %d MB)",
			infoA["memory_total_mb"], infoB["memory_total_mb"], HostA.MemoryMB, HostB.MemoryMB)
	}
	if a, b := infoA["datacenter"].(map[string]any)["id"], infoB["datacenter"].(map[string]any)["id"]; a != b {
		t.Fatalf("host.info: datacenter %v on A, %v on B: the lab's hosts are one datacenter", a, b)
	}

	// Dom0 to dom0 and agent to agent, both ways: where a transfer goes.
	for _, p := range []struct{ from, to *scenario }{{s, b}, {b, s}} {
		start := time.Now()
		ip := p.to.l.Host().IP()
		p.from.dom0("ping -c1 -W5 " + ip)
		// bash's /dev/tcp: the image has no HTTP client.
		got := p.from.dom0(fmt.Sprintf(`exec 3<>/dev/tcp/%s/8080 && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -1 <&3`, ip))
		if !strings.Contains(got, " 200 ") {
			t.Fatalf("dom0 of %s: the agent of %s at %s:8080/healthz answered %q", p.from.l.Host().Name, p.to.l.Host().Name, ip, got)
		}
		t.Logf("dom0 of %s reaches %s's dom0 and agent at %s over the segment (%v)", p.from.l.Host().Name, p.to.l.Host().Name, ip, time.Since(start).Round(time.Millisecond))
	}
	b.segmentRate(s)

	// A guest on A, pinged at its address from both dom0s.
	vmID, ip := s.create("coop", "twohost1")
	t.Logf("guest %d on A: ping from A's dom0 %v after DONE, from B's dom0 over the segment %v after that",
		vmID, s.pingable(ip).Round(time.Second), b.pingable(ip).Round(time.Second))
	mac := s.dom0(fmt.Sprintf("virsh -c xen:///system domiflist xa-vm-%d | awk '$2 == \"bridge\" {print $5}'", vmID))
	if mac == "" {
		t.Fatalf("no bridged iface in guest %d's domain", vmID)
	}
	if fdb := b.dom0("bridge fdb show br xenbr0"); !strings.Contains(fdb, mac) {
		t.Fatalf("B's bridge never learned the guest's MAC %s from the segment:\n%s", mac, fdb)
	}

	// What a move's downtime is measured with (outage_test.go), here
	// over a guest that does not move.
	p := b.startPinger(ip)
	time.Sleep(3 * time.Second)
	gap, replies := p.stop()
	t.Logf("pinger in B's dom0: %d replies in 3 s (one per %v), longest gap %v", replies, pingEvery, gap)

	s.migrationScenario(b, vmID, ip)

	// vm.delete takes its disks: A is as it was, for the scenarios after.
	s.action("hosting.vm.delete", vmID)
	s.disksMatchLVs()
	start := time.Now()
	if err := b.l.PowerDown(s.ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("two-host scenario: %v, B powered down in %v", time.Since(begin).Round(time.Second), time.Since(start).Round(time.Second))
}

// hostInfo is hosting.host.info (operator key), logged.
func (s *scenario) hostInfo() map[string]any {
	s.t.Helper()
	info := s.op.must("hosting.host.info").(map[string]any)
	storage, _ := info["storage"].(map[string]any)
	s.t.Logf("host %s: host.info: %v %v, libvirt %v, %v cpus, memory %v MB (%v free), storage %v MB (%v free), healthy %v %v",
		s.l.Host().Name, info["hypervisor"], info["hypervisor_version"], info["libvirt_version"], info["cpus"],
		info["memory_total_mb"], info["memory_free_mb"], storage["size_mb"], storage["free_mb"], info["healthy"], info["problems"])
	if _, ok := info["memory_total_mb"].(int64); !ok || info["hypervisor"] == nil {
		s.t.Fatalf("host %s: host.info read no node: %v", s.l.Host().Name, info)
	}
	return info
}

// segmentRate logs the raw rate of the segment, dom0 to dom0 (this host
// sends to to): what a transfer between the agents can reach at most.
func (s *scenario) segmentRate(to *scenario) {
	const mb = 32
	// busybox nc takes one connection and exits; started in the
	// background, given a moment to listen.
	// All its streams away from ssh's, or ssh waits for it to end.
	if _, err := to.l.Exec(s.ctx, "(timeout 120 busybox nc -l -p 5999 >/dev/null 2>&1 </dev/null &); sleep 1"); err != nil {
		s.t.Logf("segment rate not measured: %v", err)
		return
	}
	out, err := s.l.Exec(s.ctx, fmt.Sprintf("s=$(date +%%s%%N); head -c %dM /dev/zero > /dev/tcp/%s/5999; e=$(date +%%s%%N); echo $((e-s))", mb, to.l.Host().IP()))
	var ns float64
	if _, serr := fmt.Sscan(out, &ns); err != nil || serr != nil || ns <= 0 {
		s.t.Logf("segment rate not measured: %v %q", err, out)
		return
	}
	s.t.Logf("segment %s -> %s, dom0 to dom0 over TCP: %d MiB in %.1f s, %.1f MB/s", s.l.Host().Name, to.l.Host().Name, mb, ns/1e9, mb*1.048576/(ns/1e9))
}
