package service

import (
	"context"
	"sort"

	"github.com/xenagent/xenagent/agent/store"
)

// query describes how list and count read one kind of record.
type query[T any] struct {
	obj   Object
	each  func(tx *store.Tx, fn func(*T) bool)
	owner func(*T) int64
	// filter reads the filtering options and returns the predicate.
	filter func(sp *spec) (func(*T) bool, error)
	// sortKeys are the sort_by fields; "id" must be one of them.
	sortKeys map[string]func(a, b *T) int
	render   func(tx *store.Tx, v T) any
}

// run answers list (paged) or count (not paged) for the caller's records:
// options (filters, then paging and sort_by for lists) from argument 0.
func (q query[T]) run(st *store.Store, c *Caller, a args, paged bool) ([]any, int, error) {
	a.obj = q.obj
	if err := a.atMost(1); err != nil {
		return nil, 0, err
	}
	sp, err := a.spec(0, "opts", true)
	if err != nil {
		return nil, 0, err
	}
	match, err := q.filter(sp)
	if err != nil {
		return nil, 0, err
	}
	perPage, pg := int64(0), int64(0)
	var less func(a, b *T) bool
	if paged {
		if perPage, pg, err = sp.paging(); err != nil {
			return nil, 0, err
		}
		if less, err = sortSpec(sp, q.sortKeys); err != nil {
			return nil, 0, err
		}
	}
	if err := sp.done(); err != nil {
		return nil, 0, err
	}
	out := []any{}
	n := 0
	st.View(func(tx *store.Tx) {
		var hits []*T
		q.each(tx, func(v *T) bool {
			if c.owns(q.owner(v)) && match(v) {
				hits = append(hits, v)
			}
			return true
		})
		n = len(hits)
		if !paged {
			return
		}
		sort.SliceStable(hits, func(i, j int) bool { return less(hits[i], hits[j]) })
		for _, v := range page(hits, perPage, pg) {
			out = append(out, q.render(tx, *v))
		}
	})
	return out, n, nil
}

// listMethod and countMethod make a query's list and count API methods.
func listMethod[T any](st *store.Store, q query[T]) Handler {
	return func(ctx context.Context, c *Caller, a args) (any, error) {
		out, _, err := q.run(st, c, a, true)
		return out, err
	}
}

func countMethod[T any](st *store.Store, q query[T]) Handler {
	return func(ctx context.Context, c *Caller, a args) (any, error) {
		_, n, err := q.run(st, c, a, false)
		return n, err
	}
}

// submitOne creates one operation on an existing object. owner resolves
// the object's account, refusing what the caller may not touch (as "not
// found"); reserve checks the seed's rules and describes the operation.
// Both run again inside the transaction that creates it.
func (s *Service) submitOne(c *Caller, o callOpts, method string, params []any, owner func(tx *store.Tx) (int64, error), reserve func(tx *store.Tx) (opSpec, error)) (any, error) {
	var acct int64
	var err error
	s.st.View(func(tx *store.Tx) { acct, err = owner(tx) })
	if err != nil {
		return nil, err
	}
	ops, err := s.submit(acct, o, method, params, func(tx *store.Tx) ([]int64, error) {
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
		return nil, err
	}
	return renderOp(ops[0]), nil
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

// lookupInfo answers an info call: argument 0 is the object's id, looked
// up for the caller (another account's object is "not found") and rendered.
func lookupInfo[T any](st *store.Store, c *Caller, a args, obj Object, idName string, lookup func(tx *store.Tx, c *Caller, id int64) (T, error), render func(tx *store.Tx, v T) map[string]any) (any, error) {
	a.obj = obj
	id, err := a.int(0, idName)
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	var out map[string]any
	st.View(func(tx *store.Tx) {
		var v T
		if v, err = lookup(tx, c, id); err == nil {
			out = render(tx, v)
		}
	})
	return out, err
}

// creator reads the call options of a creation (at argument idx) and the
// account it creates for: the caller's, or the one the operator names.
func (s *Service) creator(c *Caller, a args, idx int, obj Object) (callOpts, int64, error) {
	o, err := s.callOpts(c, a, idx)
	if err != nil {
		return o, 0, err
	}
	acct := o.accountID
	if c.Operator {
		acct, err = s.requireAccount(o, obj)
	}
	return o, acct, err
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
