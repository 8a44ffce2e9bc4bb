package gigasclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/agenttest"
	"github.com/xenagent/xenagent/agent/api/gigas"
)

const aliceKey = "alice-key-0123456789abcd"

// server is the whole service on real parts (agenttest's rig, IPv4 only)
// behind the Gigas face: the account's id and the image's template id
// with it.
func server(t *testing.T) (url string, acct string, template int) {
	t.Helper()
	r := agenttest.New(t, agenttest.Options{
		Accounts:  []agenttest.Account{{Handle: "ALICE", Name: "Alice", Key: aliceKey}},
		Configure: []func(*agenttest.Config){func(c *agenttest.Config) { c.Network.V6 = nil }},
	})
	srv := httptest.NewServer(gigas.New(r.Service, gigas.Config{MaxBodyBytes: 64 << 10}, r.Log).Handler())
	t.Cleanup(srv.Close) // before the rig closes
	return srv.URL, strconv.FormatInt(r.Callers[0].AccountID, 10), int(r.Image.ID)
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
