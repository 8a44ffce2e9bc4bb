package service

import (
	"github.com/xenagent/xenagent/agent/store"
)

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
