package gandi

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// id reads the object id at argument i, the last argument of the call.
func (a args) id(i int, name string, obj service.Object) (int64, error) {
	a.obj = obj
	id, err := a.int(i, name)
	if err != nil {
		return 0, err
	}
	return id, a.atMost(i + 1)
}

// listOptions reads a list call's only argument: filters (read by
// filter), then items_per_page, page and sort_by.
func listOptions(a args, obj service.Object, filter func(sp *spec) error) (service.Page, error) {
	var p service.Page
	sp, err := options(a, obj, filter)
	if err != nil {
		return p, err
	}
	if p.PerPage, err = sp.int("items_per_page", 0, false); err != nil {
		return p, err
	}
	if sp.has("items_per_page") && p.PerPage == 0 {
		p.PerPage = -1 // explicit 0 is refused by the service's bounds, not taken for "default"
	}
	if p.Page, err = sp.int("page", 0, false); err != nil {
		return p, err
	}
	if p.SortBy, err = sp.str("sort_by", "", false); err != nil {
		return p, err
	}
	if sp.has("sort_by") && p.SortBy == "" {
		// The service reads "" as its default (id); a client that sends
		// it asked for nothing it may have.
		return p, service.Invalid(obj, "sort_by", "must name a field (prefix '-' for descending), not be empty")
	}
	return p, sp.done()
}

// countOptions reads a count call's only argument: filters.
func countOptions(a args, obj service.Object, filter func(sp *spec) error) error {
	sp, err := options(a, obj, filter)
	if err != nil {
		return err
	}
	return sp.done()
}

func options(a args, obj service.Object, filter func(sp *spec) error) (*spec, error) {
	a.obj = obj
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "opts", true)
	if err != nil {
		return nil, err
	}
	return sp, filter(sp)
}

func renderAll[T any](list []T, render func(T) any) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = render(v)
	}
	return out
}

// callOptions reads the optional trailing struct of a mutating call (at
// argument idx, its last): the central tier's idempotency key, chosen
// ids and acting account. The call's digest is this face's fingerprint
// of all its arguments, so a retry is "the same call" exactly when it
// sends the same XML-RPC values.
func callOptions(a args, idx int, method string) (service.CallOptions, error) {
	o := service.CallOptions{Method: method, Digest: digest(method, a.vals)}
	if err := a.atMost(idx + 1); err != nil {
		return o, err
	}
	sp, err := a.spec(idx, "call_options", true)
	if err != nil {
		return o, err
	}
	if o.IdempotencyKey, err = sp.str("idempotency_key", "", false); err != nil {
		return o, err
	}
	for key, dst := range map[string]*int64{"vm_id": &o.VMID, "disk_id": &o.DiskID, "iface_id": &o.IfaceID, "ip_id": &o.IPID, "account_id": &o.AccountID} {
		if *dst, err = sp.int(key, 0, false); err != nil {
			return o, err
		}
	}
	return o, sp.done()
}

// digest fingerprints a call by its XML-RPC encoding (as the agent has
// since its first release: the idempotency keys in a state file written
// by an older agent still match their retries).
func digest(method string, params []any) string {
	doc, _ := xmlrpc.EncodeCall(method, params...)
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// replay answers a retried mutating call from its idempotency key (the
// last argument's), before its object is looked up: a retried delete of
// what is gone gets its operation, not "not found".
func (f *Face) replay(c *service.Caller, method string, params []any) (any, bool) {
	if len(params) == 0 {
		return nil, false
	}
	opts, _ := params[len(params)-1].(map[string]any)
	key, _ := opts["idempotency_key"].(string)
	ops, ok := f.svc.Replay(c, method, key, digest(method, params))
	if !ok {
		return nil, false
	}
	if listAnswers[method] {
		return renderOps(ops), true
	}
	return renderOp(ops[0]), true
}

// listAnswers are the mutating methods that answer a list of operations;
// the others answer one.
var listAnswers = map[string]bool{"hosting.vm.create": true, "hosting.vm.create_from": true, "hosting.vm.disk_rollback": true,
	"hosting.vm.rebuild": true}

func nullable(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// renderOp is OperationReturn, plus params as the overview's example reads them.
func renderOp(o service.Operation) map[string]any {
	params := map[string]any{}
	for k, v := range o.Params {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			params[k] = n
		} else {
			params[k] = v
		}
	}
	for k, v := range map[string]int64{"vm_id": o.VMID, "disk_id": o.DiskID, "iface_id": o.IfaceID, "ip_id": o.IPID} {
		if v != 0 {
			params[k] = v
		}
	}
	out := map[string]any{
		"id": o.ID, "type": o.Type, "step": o.Step,
		"date_created": o.DateCreated, "date_start": nullTime(o.DateStart), "date_updated": o.DateUpdated,
		"vm_id": nullable(o.VMID), "disk_id": nullable(o.DiskID), "iface_id": nullable(o.IfaceID), "ip_id": nullable(o.IPID),
		"source": o.Source, "last_error": o.LastError, "eta": o.ETA, "params": params,
	}
	if t := o.Transfer; t != nil {
		// An extension beside the seed's fields: a migration's bytes
		// sent (source) or received (target), rate and time left.
		out["transfer"] = map[string]any{"bytes": t.Bytes, "bytes_total": t.Total, "rate": t.Rate, "eta": t.ETA, "downtime_ms": t.DowntimeMS, "mode": t.Mode, "mode_reason": t.ModeReason}
	}
	return out
}

func renderOps(list []service.Operation) []any {
	return renderAll(list, func(o service.Operation) any { return renderOp(o) })
}
