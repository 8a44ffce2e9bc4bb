package service

import (
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// CallOptions are what every mutating call may carry besides its own
// parameters, for the central tier: an idempotency key, the ids it
// chooses (the operator key only) and the account an operator acts for.
type CallOptions struct {
	// IdempotencyKey: a retry of the same call with the same key gets the
	// first call's operations and does nothing (at most 128 characters).
	IdempotencyKey string
	// Method and Digest say what "the same call" is: the face's name of
	// the method and its fingerprint of the call's arguments. The same
	// key with another method or digest is refused as a duplicate.
	Method, Digest              string
	VMID, DiskID, IfaceID, IPID int64
	// AccountID is the account the call acts for (the operator's choice;
	// an account may only name itself).
	AccountID int64
}

// Operation is an operation as a client sees it.
type Operation struct {
	ID                                  int64
	Type, Step                          string
	DateCreated, DateStart, DateUpdated time.Time
	VMID, DiskID, IfaceID, IPID         int64
	Source, LastError                   string
	ETA                                 int64
	// Params are the operation's parameters a client may read back.
	Params map[string]string
	// Transfer is a migration's progress (vm_migrate, vm_migrate_in);
	// nil for every other operation.
	Transfer *workflow.Transfer
}

func operationOf(o store.Operation) Operation {
	params := make(map[string]string, len(o.Params))
	for k, v := range o.Params {
		if workflow.IsClientParam(k) {
			params[k] = v
		}
	}
	return Operation{ID: o.ID, Type: o.Type, Step: o.Step, DateCreated: o.DateCreated, DateStart: o.DateStart,
		DateUpdated: o.DateUpdated, VMID: o.VMID, DiskID: o.DiskID, IfaceID: o.IfaceID, IPID: o.IPID,
		Source: o.Source, LastError: o.LastError, ETA: o.ETA, Params: params, Transfer: transferOf(o)}
}

func transferOf(o store.Operation) *workflow.Transfer {
	if t, ok := workflow.TransferOf(o); ok {
		return &t
	}
	return nil
}

func operationsOf(list []store.Operation) []Operation {
	out := make([]Operation, len(list))
	for i, o := range list {
		out[i] = operationOf(o)
	}
	return out
}

// checkOptions validates a call's options for caller c (obj: what the
// call is about) and resolves the account it acts for.
func (s *Service) checkOptions(c *Caller, co CallOptions, obj Object) (callOpts, error) {
	o := callOpts{idemKey: co.IdempotencyKey, vmID: co.VMID, diskID: co.DiskID, ifaceID: co.IfaceID, ipID: co.IPID,
		accountID: co.AccountID, method: co.Method, digest: co.Digest}
	if len(o.idemKey) > 128 {
		return o, Invalid(obj, "idempotency_key", "must be at most 128 characters")
	}
	if o.idemKey != "" && (o.method == "" || o.digest == "") {
		// Without them a retry with other arguments would get the first
		// call's operations: a face that takes keys must say what a call is.
		return o, Errorf(obj, KindInternal, "idempotency_key: the face gave no method and digest for the call")
	}
	for key, v := range map[string]int64{"vm_id": o.vmID, "disk_id": o.diskID, "iface_id": o.ifaceID, "ip_id": o.ipID, "account_id": o.accountID} {
		if v < 0 {
			return o, Invalid(obj, key, "must be positive")
		}
		if v > MaxID {
			return o, Invalid(obj, key, "must be at most %d", int64(MaxID))
		}
	}
	var err error
	if o.accountID, err = s.actingAccount(c, o.accountID); err != nil {
		return o, err
	}
	// Ids are the central tier's to choose: a tenant could squat the ones
	// it will need, and learn from "already exists" what others own. One
	// fault, whatever the id.
	if !c.Operator && (o.vmID != 0 || o.diskID != 0 || o.ifaceID != 0 || o.ipID != 0) {
		return o, Errorf(ObjMethod, KindNoRight, "call_options: vm_id, disk_id, iface_id and ip_id may be chosen by the operator key only")
	}
	o.scope = idemScope(c)
	return o, nil
}

// Replay answers a retried mutating call from its idempotency key, before
// anything else (the object it names may be gone since: a retried
// delete). Only the very same call (method and digest) by the same
// caller is answered so; anything else goes on to be submitted, which
// refuses a reused key.
func (s *Service) Replay(c *Caller, method, key, digest string) ([]Operation, bool) {
	if key == "" {
		return nil, false
	}
	var e store.IdemEntry
	var ok bool
	s.st.View(func(tx *store.Tx) { e, ok = tx.Idem(idemScope(c) + "/" + key) })
	if !ok || e.Method != method || e.Digest != digest {
		return nil, false
	}
	out := make([]Operation, 0, len(e.OpIDs))
	s.st.View(func(tx *store.Tx) {
		for _, id := range e.OpIDs {
			if op, ok := tx.Operation(id); ok && c.owns(op.AccountID) {
				out = append(out, operationOf(op))
			}
		}
	})
	return out, len(out) > 0
}
