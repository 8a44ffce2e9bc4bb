package gigasclient

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/api/gigas"
	"github.com/xenagent/xenagent/agent/ipam"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/reconcile"
	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
	"github.com/xenagent/xenagent/hypervisor"
	"github.com/xenagent/xenagent/storage/file"
	"github.com/xenagent/xenagent/storage/nocloud"
)

const aliceKey = "alice-key-0123456789abcd"

// server is the whole service on real parts (a bbolt file, the engine,
// libvirt's in-process test driver, the file backend) behind the Gigas
// face, as gigas's own harness_test.go builds it: the account's id and the
// image's template id with it.
func server(t *testing.T) (url string, acct string, template int) {
	t.Helper()
	dir := t.TempDir()
	nodeXML := filepath.Join(dir, "node.xml")
	os.WriteFile(nodeXML, []byte("<node/>"), 0o644)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dir, "state.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := hypervisor.Open(context.Background(), hypervisor.Config{URI: "test://" + nodeXML, CommandTimeout: 60 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := file.New(filepath.Join(dir, "disks"), log)
	if err != nil {
		t.Fatal(err)
	}
	v4, _ := ipam.Parse("10.0.0.0/24", "10.0.0.1", "10.0.0.10", "10.0.0.20")
	cfg := service.Config{
		Version:    "test",
		Datacenter: service.Datacenter{ID: 1, Name: "Test", Country: "France", ISO: "FR", Code: "FR-T1"},
		Limits:     service.Limits{MaxMemoryMB: 65536, MaxCores: 16, MaxDiskMB: 1 << 20, MaxBandwidth: 1e10, DefaultQuotaMB: 100000, AllowUnlimited: true},
		Network:    workflow.Network{Bridge: "xabr0", V4: &v4, ReverseDomain: "example.net"},
	}
	eng := ops.New(st, log, ops.Config{RetryFor: 5 * time.Second})
	wf := workflow.New(workflow.Config{DatacenterID: cfg.Datacenter.ID, Network: cfg.Network, Seeds: nocloud.New(filepath.Join(dir, "seeds")),
		Timeouts: workflow.Timeouts{Stop: 2 * time.Second, StopMessages: 2, Reboot: 2 * time.Second}}, st, eng, hv, vols, log)
	rec := reconcile.New(reconcile.Config{Network: cfg.Network}, st, eng, hv, vols, wf, log)
	svc := service.New(cfg, st, eng, wf, log)
	alice, err := svc.EnsureAccount("ALICE", "Alice", service.HashKey(aliceKey), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := wf.EnsureImage(context.Background(), workflow.ImageSpec{Label: "Debian 12", OSArch: "x86-64", SizeMB: 64, Cmdline: "root=/dev/xvda ro"}); err != nil {
		t.Fatal(err)
	}
	template = int(svc.Images(service.ImageFilter{})[0].ID)
	if err := rec.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng.Start(ctx)
	go rec.WatchDomains(ctx)
	srv := httptest.NewServer(gigas.New(svc, gigas.Config{MaxBodyBytes: 64 << 10}, log).Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		eng.Wait()
		st.Close()
		hv.Close()
	})
	return srv.URL, strconv.FormatInt(alice, 10), template
}

// TestLifecycle drives a VM's life through the generated client alone:
// every call, body and answer is the document's types.
func TestLifecycle(t *testing.T) {
	url, acct, template := server(t)
	ctx := context.Background()
	c, err := NewClientWithResponses(url, WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", aliceKey)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	// wait polls each operation until it ends; it must end DONE.
	wait := func(what string, ops []Operation) {
		t.Helper()
		if len(ops) == 0 {
			t.Fatalf("%s: no operations", what)
		}
		for _, op := range ops {
			deadline := time.Now().Add(60 * time.Second)
			for {
				r, err := c.GetOperationWithResponse(ctx, acct, op.Id)
				if err != nil || r.JSON200 == nil {
					t.Fatalf("%s: poll %s: %v %s", what, op.Id, err, r.Body)
				}
				if s := r.JSON200.Status; s == DONE {
					break
				} else if s == ERROR || s == CANCEL {
					t.Fatalf("%s: operation %s (%s) ended %s: %v", what, op.Id, op.Type, s, r.JSON200.Error)
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: operation %s still %s", what, op.Id, r.JSON200.Status)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	edit := func(what string, vm string, body EditVirtualMachineJSONRequestBody) {
		t.Helper()
		r, err := c.EditVirtualMachineWithResponse(ctx, acct, vm, nil, body)
		if err != nil || r.JSON202 == nil {
			t.Fatalf("%s: %v %d %s", what, err, r.StatusCode(), r.Body)
		}
		wait(what, r.JSON202.Operations)
	}
	get := func(vm string) VirtualMachine {
		t.Helper()
		r, err := c.GetVirtualMachineWithResponse(ctx, acct, vm)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("get %s: %v %d %s", vm, err, r.StatusCode(), r.Body)
		}
		return *r.JSON200
	}

	// Create, and poll its operations to DONE.
	cr, err := c.CreateVirtualMachineWithResponse(ctx, acct, nil, CreateVirtualMachineJSONRequestBody{
		Memory: *Int(256), Cpus: *Int(1), Label: "client", Hostname: "client1", PrimaryDiskSize: *Int(1), TemplateId: *Int(template)})
	if err != nil || cr.JSON202 == nil {
		t.Fatalf("create: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	if cr.JSON202.Id == nil || cr.JSON202.InitialPassword == nil || len(*cr.JSON202.InitialPassword) != 16 {
		t.Fatalf("create: %s", cr.Body)
	}
	id := *cr.JSON202.Id
	wait("create", cr.JSON202.Operations)

	if vm := get(id); vm.Status != VirtualMachineStatusOnline || vm.Hostname != "client1" || vm.Memory != 256 || vm.InitialPassword != nil {
		t.Fatalf("get: %+v", vm)
	}
	status := "online"
	lr, err := c.ListVirtualMachinesWithResponse(ctx, acct, &ListVirtualMachinesParams{Status: &status})
	if err != nil || lr.JSON200 == nil || len(*lr.JSON200) != 1 || (*lr.JSON200)[0].Id != id {
		t.Fatalf("list: %v %s", err, lr.Body)
	}

	// Edit the memory; power off and on.
	edit("memory", id, EditVirtualMachineJSONRequestBody{Memory: Int(512)})
	if vm := get(id); vm.Memory != 512 {
		t.Fatalf("memory after edit: %d", vm.Memory)
	}
	off := VirtualMachineEditStatusOffline
	edit("offline", id, EditVirtualMachineJSONRequestBody{Status: &off})
	if vm := get(id); vm.Status != VirtualMachineStatusOffline {
		t.Fatalf("after offline: %s", vm.Status)
	}
	on := VirtualMachineEditStatusOnline
	edit("online", id, EditVirtualMachineJSONRequestBody{Status: &on})
	if vm := get(id); vm.Status != VirtualMachineStatusOnline {
		t.Fatalf("after online: %s", vm.Status)
	}

	dr, err := c.ListDisksWithResponse(ctx, acct, id)
	if err != nil || dr.JSON200 == nil || len(*dr.JSON200) != 1 || !(*dr.JSON200)[0].Primary || (*dr.JSON200)[0].Size != 1 {
		t.Fatalf("disks: %v %s", err, dr.Body)
	}
	nr, err := c.ListNetworkInterfacesWithResponse(ctx, acct, id, nil)
	if err != nil || nr.JSON200 == nil || len(*nr.JSON200) != 1 || (*nr.JSON200)[0].Label != "eth0" || !(*nr.JSON200)[0].Primary {
		t.Fatalf("network_interfaces: %v %s", err, nr.Body)
	}

	// A 400 and a 404, read as the document's Error.
	bad, err := c.EditVirtualMachineWithResponse(ctx, acct, id, nil, EditVirtualMachineJSONRequestBody{Memory: Int(-1)})
	if err != nil || bad.JSON400 == nil || bad.JSON400.Code != InvalidParameter || !strings.HasPrefix(bad.JSON400.Message, "memory: ") {
		t.Fatalf("400: %v %d %s", err, bad.StatusCode(), bad.Body)
	}

	// Delete; the VM is then 404.
	del, err := c.DeleteVirtualMachineWithResponse(ctx, acct, id, nil)
	if err != nil || del.JSON202 == nil {
		t.Fatalf("delete: %v %d %s", err, del.StatusCode(), del.Body)
	}
	wait("delete", del.JSON202.Operations)
	gone, err := c.GetVirtualMachineWithResponse(ctx, acct, id)
	if err != nil || gone.JSON404 == nil || gone.JSON404.Code != NotFound || !strings.HasPrefix(gone.JSON404.Message, "virtual_machine_id: ") {
		t.Fatalf("404: %v %d %s", err, gone.StatusCode(), gone.Body)
	}
}
