package service

import (
	"context"

	"github.com/xenagent/xenagent/agent/store"
)

// DismissOperation cancels one of the caller's operations the v1 way:
// one that ended in ERROR "must be modified or canceled", so cancelling
// it is allowed and records that the client gave it up (ERROR becomes
// CANCEL; its error stays readable). Any other operation is cancelled as
// CancelOperation does. The engine already undid what a failed operation
// did, so nothing else changes.
func (s *Service) DismissOperation(ctx context.Context, c *Caller, id int64) error {
	dismissed := false
	err := s.st.Update(func(tx *store.Tx) error {
		o, err := opFor(tx, c, id)
		if err != nil {
			return err
		}
		if o.Step != store.StepError {
			return nil
		}
		o.Step = store.StepCancel
		o.DateUpdated = now()
		tx.PutOperation(o)
		dismissed = true
		return nil
	})
	if err != nil || dismissed {
		return err
	}
	return s.CancelOperation(ctx, c, id)
}
