package service

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

// callOpts is the optional trailing struct of every mutating call, for
// the central tier: caller-chosen ids, an idempotency key, and the account
// an operator key acts for. Gandi's own parameters stay untouched.
type callOpts struct {
	idemKey   string
	vmID      int64
	diskID    int64
	ifaceID   int64
	ipID      int64
	accountID int64
	// scope is whose idempotency keys these are (idemScope).
	scope string
	// method and digest identify the call to its idempotency key.
	method, digest string
}

// idemScope names the caller's own idempotency keys: an account's, or the
// operator's (one client, whatever account it acts for). Known from the
// key alone, so a retry is answered before the object it names is looked
// up: a retried delete of what is gone gets its operation, not "not found".
func idemScope(c *Caller) string {
	if c.Operator {
		return "operator"
	}
	return strconv.FormatInt(c.AccountID, 10)
}

// actingAccount is the account a mutating call works for.
func (s *Service) actingAccount(c *Caller, requested int64) (int64, error) {
	if !c.Operator {
		if requested != 0 && requested != c.AccountID {
			return 0, Errorf(ObjAccount, KindNoRight, "account_id: only the operator key may act for another account")
		}
		return c.AccountID, nil
	}
	return requested, nil
}

// requireAccount checks an operator named the account a creation is for.
func (s *Service) requireAccount(o callOpts, obj Object) (int64, error) {
	if o.accountID == 0 {
		return 0, Errorf(obj, KindMissing, "call_options.account_id: missing parameter (the operator key must name the account it creates for)")
	}
	ok := false
	s.st.View(func(tx *store.Tx) { _, ok = tx.Account(o.accountID) })
	if !ok {
		return 0, notFound(ObjAccount, "account", o.accountID)
	}
	return o.accountID, nil
}

// submitCall reserves records and creates operations in one
// transaction. With an idempotency key, a repeat of the same call (the
// same method and digest, which the face gives in CallOptions) returns
// the same operations and does nothing; the same key with another call
// is a duplicate fault.
func (s *Service) submitCall(accountID int64, o callOpts, reserve func(tx *store.Tx) ([]int64, error)) ([]store.Operation, error) {
	method, d := o.method, o.digest
	var ids []int64
	fresh := false
	// withBefore: the quota check knows the account's usage before the
	// call (quota.go's checkQuota); the first attempt does without it.
	withBefore := false
	body := func(tx *store.Tx) error {
		key := o.scope + "/" + o.idemKey
		if o.idemKey != "" {
			e, ok := tx.Idem(key)
			if !ok && o.scope == "operator" {
				// Before 2026-12 the operator's keys were kept under
				// the account it acted for.
				e, ok = tx.Idem(fmt.Sprintf("%d/%s", accountID, o.idemKey))
			}
			if ok {
				if e.Method != method || e.Digest != d {
					return Errorf(ObjMethod, KindDuplicate, "idempotency_key: %q was used for another call", o.idemKey)
				}
				ids = e.OpIDs
				return nil
			}
		}
		var err error
		// A caller's call (scope set) stays within the account's quotas
		// (quota.go); what the agent starts itself (submitSystem) is not
		// refused for them.
		var before *Resources
		if o.scope != "" && withBefore {
			u := s.usage(tx, accountID)
			before = &u
		}
		if ids, err = reserve(tx); err != nil {
			return err
		}
		// Nothing joins what is moving between hosts (migration.go).
		if err := s.refuseMoving(tx, ids); err != nil {
			return err
		}
		// A caller's call (scope set): none may change a locked VM
		// (lock.go). What the agent starts itself (submitSystem) may.
		if o.scope != "" {
			if err := s.refuseLocked(tx, ids); err != nil {
				return err
			}
			if err := s.checkQuota(tx, accountID, before); err != nil {
				return err
			}
		}
		fresh = true
		if o.idemKey != "" {
			tx.PutIdem(key, store.IdemEntry{Method: method, Digest: d, OpIDs: ids, Date: now()})
		}
		return nil
	}
	err := s.st.Update(body)
	if errors.Is(err, errQuotaRecheck) {
		withBefore = true
		err = s.st.Update(body) // the first was undone: the same call, measured first
	}
	if err != nil {
		return nil, err
	}
	// Read before enqueueing: a new call returns its operations as
	// submitted (WAIT), not whatever step a fast worker has reached; a
	// repeat returns where they are now.
	out := make([]store.Operation, 0, len(ids))
	s.st.View(func(tx *store.Tx) {
		for _, id := range ids {
			if op, ok := tx.Operation(id); ok {
				out = append(out, op)
			}
		}
	})
	if fresh {
		s.eng.Enqueue(ids...)
	}
	return out, nil
}

// opSpec describes an operation to create inside a reservation.
type opSpec struct {
	typ                       string
	vmID, diskID, ifaceID, ip int64
	keys                      []string
	after                     []int64
	// params are what a client reads back (workflow.IsClientParam); input is
	// what the steps read, one of agent/workflow's input types.
	params map[string]string
	input  any
	// secrets go to the operation's Secrets, never to its params.
	secrets map[string]string
	eta     int64
}

func (s *Service) newOp(tx *store.Tx, accountID int64, sp opSpec) store.Operation {
	handle := "OPERATOR"
	if a, ok := tx.Account(accountID); ok {
		handle = a.Handle
	}
	// The input types are plain numbers, strings and booleans, which
	// always encode: a failure is a programming error, reported as the
	// store reports a record it cannot encode.
	input, err := ops.Encode(sp.input)
	if err != nil {
		panic(fmt.Sprintf("service: encoding the input of a %s operation: %v", sp.typ, err))
	}
	t := now()
	op := store.Operation{
		ID: tx.NextID("operation", tx.HasOperation), AccountID: accountID, Type: sp.typ, Step: store.StepWait,
		DateCreated: t, DateUpdated: t, VMID: sp.vmID, DiskID: sp.diskID, IfaceID: sp.ifaceID, IPID: sp.ip,
		Source: handle, Keys: sp.keys, After: sp.after, Params: sp.params, Input: input, ETA: sp.eta,
		Secrets: sp.secrets,
	}
	// The engine queues it now, in id order, though it starts only once
	// submit enqueues it after the write is durable.
	s.eng.Create(tx, op)
	return op
}

// deleting reports whether a resource is held by an unfinished deletion
// (which forbids any other call on it). It runs under the store's write
// lock on every mutating call, so it reads only the operations the engine
// queues on key, not every operation kept. All of them, not only the
// first: a deletion may wait behind another operation on the same key (a
// vm_delete submitted while a vm_stop runs).
func (s *Service) deleting(tx *store.Tx, key string) bool {
	for _, id := range s.eng.Holders(key) {
		o, ok := tx.Operation(id)
		if ok && !o.Finished() && (o.Type == "vm_delete" || o.Type == "disk_delete" || o.Type == "iface_delete") && slices.Contains(o.Keys, key) {
			return true
		}
	}
	return false
}

// submitOneOf is submitOne for a typed call: o (from checkOptions)
// carries the call's method and digest, and the operation is returned
// as the caller sees it.
func (s *Service) submitOneOf(c *Caller, o callOpts, owner func(tx *store.Tx) (int64, error), reserve func(tx *store.Tx) (opSpec, error)) (Operation, error) {
	var acct int64
	var err error
	s.st.View(func(tx *store.Tx) { acct, err = owner(tx) })
	if err != nil {
		return Operation{}, err
	}
	ops, err := s.submitCall(acct, o, func(tx *store.Tx) ([]int64, error) {
		if _, err := owner(tx); err != nil {
			return nil, err
		}
		sp, err := reserve(tx)
		if err != nil {
			return nil, err
		}
		return []int64{s.newOp(tx, acct, sp).ID}, nil
	})
	if err != nil {
		return Operation{}, err
	}
	return operationOf(ops[0]), nil
}

// creatorOf checks a creation's options and returns the account it
// creates for: the caller's, or the one the operator names.
func (s *Service) creatorOf(c *Caller, co CallOptions, obj Object) (callOpts, int64, error) {
	o, err := s.checkOptions(c, co, obj)
	if err != nil {
		return o, 0, err
	}
	acct := o.accountID
	if c.Operator {
		acct, err = s.requireAccount(o, obj)
	}
	return o, acct, err
}
