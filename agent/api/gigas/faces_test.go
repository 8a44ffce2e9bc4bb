package gigas

import (
	"context"
	"strconv"
	"testing"

	"github.com/xenagent/xenagent/agent/api/gandi"
	"github.com/xenagent/xenagent/agent/service"
)

// TestSameVMOnBothFaces: a VM made over REST is the VM hosting.vm.list and
// hosting.vm.info show, and a change made over XML-RPC shows over REST.
func TestSameVMOnBothFaces(t *testing.T) {
	a := newAgent(t)
	id := a.createVM("both1")
	face := gandi.NewFace(a.svc)
	alice := &service.Caller{AccountID: a.alice, Handle: "ALICE"}
	list, err := face.Call(context.Background(), alice, "hosting.vm.list", nil)
	if err != nil {
		t.Fatal(err)
	}
	vms := list.([]any)
	if len(vms) != 1 || strconv.FormatInt(vms[0].(map[string]any)["id"].(int64), 10) != id || vms[0].(map[string]any)["hostname"] != "both1" {
		t.Fatalf("hosting.vm.list: %v", vms)
	}
	vmID, _ := strconv.ParseInt(id, 10, 64)
	op, err := face.Call(context.Background(), alice, "hosting.vm.stop", []any{vmID})
	if err != nil {
		t.Fatal(err)
	}
	opID := op.(map[string]any)["id"].(int64)
	a.wait(aliceKey, a.alice, reply{body: map[string]any{"operations": []any{map[string]any{"href": opHref(a.alice, opID)}}}})
	if s := a.must(200, aliceKey, "GET", a.vmPath(a.alice, id), nil).obj()["status"]; s != "offline" {
		t.Fatalf("after hosting.vm.stop: %v", s)
	}
}
