package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// vmAnswer is a vm.info answer as the client decodes it: a running VM
// with a system and a data disk and one iface; with changes applied.
func vmAnswer(change func(m map[string]any)) map[string]any {
	m := map[string]any{
		"id": int64(12), "hostname": "web1", "memory": int64(512), "cores": int64(2), "state": "running", "iso_id": nil,
		"disks": []any{
			map[string]any{"id": int64(20), "size": int64(10240), "type": "data", "snapshots_id": []any{}, "is_migrating": false},
			map[string]any{"id": int64(21), "size": int64(4096), "type": "data", "snapshots_id": []any{}, "is_migrating": false},
		},
		"ifaces": []any{
			map[string]any{"id": int64(30), "vm_id": int64(12), "ips": []any{map[string]any{"id": int64(40), "ip": "10.0.0.12", "version": int64(4)}}},
		},
	}
	if change != nil {
		change(m)
	}
	return m
}

func disk0(m map[string]any) map[string]any  { return m["disks"].([]any)[0].(map[string]any) }
func iface0(m map[string]any) map[string]any { return m["ifaces"].([]any)[0].(map[string]any) }

// The ticket request vm migrate sends, from vm.info's answer: the ids,
// memory, cores and disk sizes as the source has them; on the same
// network each iface's address, else the version of the one to lease;
// refused before a ticket is asked for what the source would refuse.
func TestVMTicket(t *testing.T) {
	disks := []any{map[string]any{"id": int64(20), "size": int64(10240)}, map[string]any{"id": int64(21), "size": int64(4096)}}
	for _, tc := range []struct {
		name    string
		change  func(m map[string]any)
		same    bool
		want    map[string]any
		wantErr string
	}{
		{name: "same network keeps the address", same: true, want: map[string]any{"account_id": int64(3), "vm_id": int64(12),
			"memory": int64(512), "cores": int64(2), "disks": disks, "expires": int64(ticketExpires),
			"ifaces": []any{map[string]any{"id": int64(30), "ip": "10.0.0.12", "same_network": true}}}},
		{name: "another network leases one of the same version", want: map[string]any{"account_id": int64(3), "vm_id": int64(12),
			"memory": int64(512), "cores": int64(2), "disks": disks, "expires": int64(ticketExpires),
			"ifaces": []any{map[string]any{"id": int64(30), "ip_version": int64(4), "same_network": false}}}},
		{name: "an IPv6 iface on another network", change: func(m map[string]any) {
			iface0(m)["ips"] = []any{map[string]any{"ip": "2001:db8::5", "version": int64(6)}}
		}, want: map[string]any{"account_id": int64(3), "vm_id": int64(12),
			"memory": int64(512), "cores": int64(2), "disks": disks, "expires": int64(ticketExpires),
			"ifaces": []any{map[string]any{"id": int64(30), "ip_version": int64(6), "same_network": false}}}},
		{name: "no iface", same: true, change: func(m map[string]any) { m["ifaces"] = []any{} },
			want: map[string]any{"account_id": int64(3), "vm_id": int64(12), "memory": int64(512), "cores": int64(2),
				"disks": disks, "ifaces": []any{}, "expires": int64(ticketExpires)}},
		{name: "an ISO attached", change: func(m map[string]any) { m["iso_id"] = int64(2) }, wantErr: "vm 12: ISO 2 is attached"},
		{name: "a disk with snapshots", change: func(m map[string]any) { disk0(m)["snapshots_id"] = []any{int64(50)} },
			wantErr: "vm 12: disks[0]: disk 20 has 1 snapshot(s)"},
		{name: "a disk moving already", change: func(m map[string]any) { disk0(m)["is_migrating"] = true }, wantErr: "disk 20 is moving already"},
		{name: "no disks", change: func(m map[string]any) { m["disks"] = []any{} }, wantErr: "vm 12: vm.info lists no disks"},
		{name: "a disk without size", change: func(m map[string]any) { delete(disk0(m), "size") }, wantErr: "vm 12: disks[0]: no id or size"},
		{name: "no memory", change: func(m map[string]any) { delete(m, "memory") }, wantErr: "no memory or cores"},
		{name: "no id", change: func(m map[string]any) { delete(m, "id") }, wantErr: "vm.info: no id"},
		{name: "same network, no address", same: true, change: func(m map[string]any) { iface0(m)["ips"] = []any{} },
			wantErr: "vm 12: ifaces[0]: iface 30 has no address to keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := vmTicket(vmAnswer(tc.change), 3, tc.same)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ticket request\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// Detached disks and ifaces: one of them per ticket, no vm_id; an
// attached one moves with its VM.
func TestDetachedTickets(t *testing.T) {
	disk := func(change func(m map[string]any)) map[string]any {
		m := map[string]any{"id": int64(40), "size": int64(2048), "type": "data", "vms_id": []any{}, "snapshots_id": []any{}}
		if change != nil {
			change(m)
		}
		return m
	}
	iface := func(vm any) map[string]any {
		return map[string]any{"id": int64(7), "vm_id": vm, "ips": []any{map[string]any{"ip": "10.0.0.15", "version": int64(4)}}}
	}
	for _, tc := range []struct {
		name    string
		build   func() (map[string]any, error)
		want    map[string]any
		wantErr string
	}{
		{"a detached disk", func() (map[string]any, error) { return detachedDiskTicket(disk(nil), 3) },
			map[string]any{"account_id": int64(3), "disks": []any{map[string]any{"id": int64(40), "size": int64(2048)}}, "expires": int64(ticketExpires)}, ""},
		{"an attached disk", func() (map[string]any, error) {
			return detachedDiskTicket(disk(func(m map[string]any) { m["vms_id"] = []any{int64(12)} }), 3)
		}, nil, "disk 40 is attached to vm 12: move the vm"},
		{"a snapshot", func() (map[string]any, error) {
			return detachedDiskTicket(disk(func(m map[string]any) { m["type"] = "snapshot" }), 3)
		}, nil, "disk 40 is of type snapshot"},
		{"a detached iface, same network", func() (map[string]any, error) { return detachedIfaceTicket(iface(nil), 3, true) },
			map[string]any{"account_id": int64(3), "ifaces": []any{map[string]any{"id": int64(7), "ip": "10.0.0.15", "same_network": true}}, "expires": int64(ticketExpires)}, ""},
		{"a detached iface, another network", func() (map[string]any, error) { return detachedIfaceTicket(iface(nil), 3, false) },
			map[string]any{"account_id": int64(3), "ifaces": []any{map[string]any{"id": int64(7), "ip_version": int64(4), "same_network": false}}, "expires": int64(ticketExpires)}, ""},
		{"an attached iface", func() (map[string]any, error) { return detachedIfaceTicket(iface(int64(12)), 3, true) },
			nil, "iface 7 is attached to vm 12: move the vm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.build()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ticket request\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// -same-network auto: the same datacenter on both hosts; yes and no force.
func TestSameNetwork(t *testing.T) {
	host := func(dc any) map[string]any { return map[string]any{"datacenter": map[string]any{"id": dc}} }
	for _, tc := range []struct {
		flag     string
		src, dst map[string]any
		want     bool
	}{
		{"auto", host(int64(1)), host(int64(1)), true},
		{"auto", host(int64(1)), host(int64(2)), false},
		{"auto", host(int64(0)), host(int64(0)), false}, // unknown is not the same
		{"auto", map[string]any{}, host(int64(1)), false},
		{"yes", host(int64(1)), host(int64(2)), true},
		{"no", host(int64(1)), host(int64(1)), false},
	} {
		s, err := parseSameNetwork(tc.flag)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.decide(tc.src, tc.dst); got != tc.want {
			t.Errorf("-same-network %s, %v and %v: %v, want %v", tc.flag, tc.src, tc.dst, got, tc.want)
		}
	}
	if _, err := parseSameNetwork("maybe"); err == nil || !strings.Contains(err.Error(), "must be auto, yes or no") {
		t.Errorf("-same-network maybe: %v", err)
	}
}

// The account: the answer's where it has one, else -account; a flag
// that contradicts the answer is refused.
func TestAccountOf(t *testing.T) {
	for _, tc := range []struct {
		info    map[string]any
		flag    int64
		want    int64
		wantErr string
	}{
		{map[string]any{}, 3, 3, ""},
		{map[string]any{"account_id": int64(4)}, 0, 4, ""},
		{map[string]any{"account_id": int64(4)}, 4, 4, ""},
		{map[string]any{"account_id": int64(4)}, 3, 0, "-account 3: the agent says the owner is account 4"},
		{map[string]any{}, 0, 0, "-account is required"},
	} {
		got, err := accountOf(tc.info, tc.flag)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("accountOf(%v, %d) = %d, %v; want %d, %q", tc.info, tc.flag, got, err, tc.want, tc.wantErr)
		}
	}
}

// -to: an API URL or a base address; the source gets the base.
func TestTargetURLs(t *testing.T) {
	for _, tc := range []struct{ to, api, base, wantErr string }{
		{"https://host2:8443", "https://host2:8443/xmlrpc/", "https://host2:8443", ""},
		{"https://host2:8443/", "https://host2:8443/xmlrpc/", "https://host2:8443", ""},
		{"http://127.0.0.1:8080/xmlrpc/", "http://127.0.0.1:8080/xmlrpc/", "http://127.0.0.1:8080", ""},
		{"host2:8443", "", "", "must be the target agent's URL"},
		{"ftp://host2", "", "", "must be the target agent's URL"},
		{"https://u:p@host2", "", "", "must be the target agent's URL"},
	} {
		api, base, err := targetURLs(tc.to)
		if api != tc.api || base != tc.base || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("targetURLs(%q) = %q, %q, %v; want %q, %q, %q", tc.to, api, base, err, tc.api, tc.base, tc.wantErr)
		}
	}
}

// The waiting line of a move and its end.
func TestTransferLines(t *testing.T) {
	op := map[string]any{"transfer": map[string]any{"bytes": int64(12 << 20), "bytes_total": int64(40 << 20), "rate": 5.5 * (1 << 20),
		"eta": int64(6), "downtime_ms": int64(0)}}
	tr, ok := transferOf(op)
	if !ok {
		t.Fatal("no transfer")
	}
	if got, want := tr.progress(time.Second), ", 12.0 MiB of 40.0 MiB (30%), 5.5 MiB/s, ETA 6s"; got != want {
		t.Errorf("progress = %q, want %q", got, want)
	}
	// No rate from the agent yet: the average since the start.
	tr.rate, tr.eta = 0, 0
	if got, want := tr.progress(4*time.Second), ", 12.0 MiB of 40.0 MiB (30%), 3.0 MiB/s, ETA 9.3s (average so far)"; got != want {
		t.Errorf("progress without a rate = %q, want %q", got, want)
	}
	tr.bytes = tr.total
	if got, want := tr.progress(0), ", 40.0 MiB of 40.0 MiB (100%), all sent"; got != want {
		t.Errorf("progress at the end = %q, want %q", got, want)
	}
	if got, want := progressKey(map[string]any{"step": "RUN", "transfer": op["transfer"]}), "RUN 3"; got != want {
		t.Errorf("progressKey = %q, want %q", got, want)
	}
	done, _ := transferOf(map[string]any{"transfer": map[string]any{"bytes": int64(40 << 20), "bytes_total": int64(40 << 20), "downtime_ms": int64(1234)}})
	if got, want := done.end(), ", 40.0 MiB sent, downtime 1.2s"; got != want {
		t.Errorf("end = %q, want %q", got, want)
	}
	if _, ok := transferOf(map[string]any{"step": "DONE"}); ok {
		t.Error("an operation without transfer has one")
	}
}
