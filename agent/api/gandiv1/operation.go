package gandiv1

import (
	"context"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// The v1 operation states. They are the engine's steps but for WAIT,
// which v1 calls PENDING.
var (
	stateOf = map[string]string{store.StepWait: "PENDING", store.StepRun: "RUN", store.StepDone: "DONE",
		store.StepError: "ERROR", store.StepCancel: "CANCEL"}
	stepOf = map[string]string{"PENDING": store.StepWait, "RUN": store.StepRun, "DONE": store.StepDone,
		"ERROR": store.StepError, "CANCEL": store.StepCancel}
)

// OperationListMax is how many ids operation_list answers: the last 300.
const OperationListMax = 300

// opList is operation_list(session[, filter]): the ids of the last 300
// operations that match, newest first. filter: type, state (ALL,
// PENDING, RUN, ERROR, CANCEL, DONE), created_after, created_before,
// updated_after, updated_before (strict bounds).
func (s *Server) opList(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjOperation
	if err := a.count(0, 1); err != nil {
		return nil, err
	}
	sp, err := a.spec(0, "filter")
	if err != nil {
		return nil, err
	}
	var f service.OperationFilter
	typ, hasType, err := sp.str("type")
	if err != nil {
		return nil, err
	}
	if hasType {
		f.Types = []string{typ}
	}
	state, hasState, err := sp.str("state")
	if err != nil {
		return nil, err
	}
	if hasState && state != "ALL" {
		step, ok := stepOf[state]
		if !ok {
			fl := dataFault(ObjOperation, CauseValue, "filter.state", "filter.state: must be one of ALL, PENDING, RUN, ERROR, CANCEL, DONE")
			fl.Value, fl.ShowValue = shown(state), true
			return nil, fl
		}
		f.Steps = []string{step}
	}
	for _, b := range []struct{ key, field, op string }{
		{"created_after", "date_created", ">"}, {"created_before", "date_created", "<"},
		{"updated_after", "date_updated", ">"}, {"updated_before", "date_updated", "<"},
	} {
		at, err := sp.date(b.key)
		if err != nil {
			return nil, err
		}
		if at != nil {
			f.Dates = append(f.Dates, service.DateBound{Field: b.field, Op: b.op, At: *at})
		}
	}
	if err := sp.done(); err != nil {
		return nil, err
	}
	ops, err := s.svc.Operations(c, f, service.Page{PerPage: OperationListMax, SortBy: "-id"})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(ops))
	for i, o := range ops {
		ids[i] = o.ID
	}
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out, nil
}

// opDetails is operation_details(session, opid): uid, type, state,
// date_create, date_update, param (param_type vm or disk, with vm_id or
// disk_id) and, in ERROR, comment.
func (s *Server) opDetails(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjOperation
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "opid")
	if err != nil {
		return nil, err
	}
	o, err := s.svc.Operation(c, id)
	if err != nil {
		return nil, opidFault(err, id)
	}
	return renderOp(o), nil
}

func renderOp(o service.Operation) map[string]any {
	param := map[string]any{}
	for k, v := range o.Params {
		param[k] = paramValue(k, v)
	}
	switch {
	case strings.HasPrefix(o.Type, "disk_") && o.DiskID != 0 || o.VMID == 0 && o.DiskID != 0:
		param["param_type"] = "disk"
		param["disk_id"] = o.DiskID
		if o.VMID != 0 {
			param["vm_id"] = o.VMID
		}
	case o.VMID != 0:
		param["param_type"] = "vm"
		param["vm_id"] = o.VMID
		if o.DiskID != 0 {
			param["disk_id"] = o.DiskID
		}
	case o.IfaceID != 0:
		param["param_type"] = "iface"
		param["iface_id"] = o.IfaceID
	}
	out := map[string]any{
		"uid": o.ID, "type": o.Type, "state": stateOf[o.Step],
		"date_create": o.DateCreated, "date_update": o.DateUpdated, "param": param,
	}
	if o.Step == store.StepError || o.Step == store.StepCancel && o.LastError != "" {
		out["comment"] = o.LastError
	}
	return out
}

// The service keeps an operation's params as strings. operation_details
// renders the numbers as numbers, the type a client reads beside the
// param's integer vm_id and disk_id: counts, sizes, ids and 0/1 flags as
// ints, bandwidth (bit/s, maybe fractional) as a double, as
// hosting_account_info has it. Every other param is text a client gave
// (a hostname, a disk name "2024", a cmdline) and stays a string even
// when it looks like a number. Keys are workflow's client params.
var (
	intParams = map[string]bool{"source": true, "profile": true, "snapshot_id": true, "memory": true, "vm_max_memory": true,
		"cores": true, "console": true, "size": true, "snapshot_profile": true, "reboot": true, "position": true,
		"insert": true, "old_disk_id": true, "restore_disk_id": true, "restore": true, "rules": true, "cpu_shares": true,
		"force": true, "iso_id": true}
	floatParams = map[string]bool{"bandwidth": true}
)

// paramValue is param k's value v as operation_details renders it; a
// number that does not parse stays the string it is rather than fail the call.
func paramValue(k, v string) any {
	switch {
	case intParams[k]:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	case floatParams[k]:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return v
}

// opCancel is operation_cancel(session, opid): True once a PENDING or
// RUN operation is asked to stop (a RUN one stops at its next step and
// rolls back), or an ERROR one is given up (the document: an operation
// in ERROR "must be modified or canceled").
func (s *Server) opCancel(ctx context.Context, c *service.Caller, a args) (any, error) {
	a.obj = ObjOperation
	if err := a.count(1, 1); err != nil {
		return nil, err
	}
	id, err := a.id(0, "opid")
	if err != nil {
		return nil, err
	}
	if err := s.svc.DismissOperation(ctx, c, id); err != nil {
		return nil, opidFault(err, id)
	}
	return true, nil
}

// opidFault says a service refusal of a call about operation id in v1's
// words: the service names the operation's id op_id, as v3 does, where
// v1 calls it opid; the fault names opid as its element, with id.
func opidFault(err error, id int64) error {
	return inParams(err, map[string]string{"op_id": "opid"}, param{"opid", service.ObjOperation, id})
}
