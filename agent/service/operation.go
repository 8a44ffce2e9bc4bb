package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
)

func opFor(tx *store.Tx, c *Caller, id int64) (store.Operation, error) {
	o, ok := tx.Operation(id)
	if !ok || !c.owns(o.AccountID) {
		return store.Operation{}, notFound(ObjOperation, "operation", id)
	}
	return o, nil
}

// Operation reads one of the caller's operations.
func (s *Service) Operation(c *Caller, id int64) (Operation, error) {
	var o store.Operation
	var err error
	s.st.View(func(tx *store.Tx) { o, err = opFor(tx, c, id) })
	if err != nil {
		return Operation{}, err
	}
	return operationOf(o), nil
}

// OperationFilter selects operations: each list, when not empty, is a
// match, and every date bound must hold.
type OperationFilter struct {
	Types, Steps                  []string
	IDs, VMIDs, DiskIDs, IfaceIDs []int64
	Dates                         []DateBound
}

// DateBound bounds one of an operation's dates, as Gandi's
// operator-suffixed keys do ("date_created >=").
type DateBound struct {
	// Field is date_created, date_updated or date_start.
	Field string
	// Op is >=, <=, > or <.
	Op string
	At time.Time
}

// The fields and comparisons a DateBound may use.
var (
	opDateFields = []string{"date_created", "date_updated", "date_start"}
	opDateOps    = []string{">=", "<=", ">", "<"}
)

var opSteps = []string{store.StepWait, store.StepRun, store.StepDone, store.StepError, store.StepCancel}

// check refuses a value no operation could match.
func (f OperationFilter) check() error {
	for _, st := range f.Steps {
		if !slices.Contains(opSteps, st) {
			return Invalid(ObjOperation, "step", "must be one of %s", strings.Join(opSteps, ", "))
		}
	}
	for _, b := range f.Dates {
		if !slices.Contains(opDateFields, b.Field) || !slices.Contains(opDateOps, b.Op) {
			return Invalid(ObjOperation, b.Field+" "+b.Op, "a date bound is one of %s followed by one of %s",
				strings.Join(opDateFields, ", "), strings.Join(opDateOps, " "))
		}
	}
	return nil
}

func opDate(o *store.Operation, field string) time.Time {
	switch field {
	case "date_created":
		return o.DateCreated
	case "date_updated":
		return o.DateUpdated
	}
	return o.DateStart
}

// holds reports whether o's date is within the bound. Dates are whole
// seconds: "> t" is ">= t+1s" and "< t" is "<= t-1s".
func (b DateBound) holds(o *store.Operation) bool { return b.admits(opDate(o, b.Field)) }

// admits reports whether date d is within the bound (Field aside).
func (b DateBound) admits(d time.Time) bool {
	switch b.Op {
	case ">=":
		return !d.Before(b.At)
	case ">":
		return !d.Before(b.At.Add(time.Second))
	case "<=":
		return !d.After(b.At)
	case "<":
		return !d.After(b.At.Add(-time.Second))
	}
	return false
}

func (f OperationFilter) match(o *store.Operation) bool {
	if !((len(f.Types) == 0 || slices.Contains(f.Types, o.Type)) && (len(f.Steps) == 0 || slices.Contains(f.Steps, o.Step)) &&
		(len(f.IDs) == 0 || slices.Contains(f.IDs, o.ID)) && (len(f.VMIDs) == 0 || slices.Contains(f.VMIDs, o.VMID)) &&
		(len(f.DiskIDs) == 0 || slices.Contains(f.DiskIDs, o.DiskID)) && (len(f.IfaceIDs) == 0 || slices.Contains(f.IfaceIDs, o.IfaceID))) {
		return false
	}
	for _, b := range f.Dates {
		if !b.holds(o) {
			return false
		}
	}
	return true
}

var opLister = lister[store.Operation]{
	obj:   ObjOperation,
	each:  (*store.Tx).EachOperation,
	owner: func(o *store.Operation) int64 { return o.AccountID },
	sortKeys: map[string]func(a, b *store.Operation) int{
		"id":           func(a, b *store.Operation) int { return cmp64(a.ID, b.ID) },
		"date_created": func(a, b *store.Operation) int { return a.DateCreated.Compare(b.DateCreated) },
		"date_updated": func(a, b *store.Operation) int { return a.DateUpdated.Compare(b.DateUpdated) },
		"type":         func(a, b *store.Operation) int { return strings.Compare(a.Type, b.Type) },
		"step":         func(a, b *store.Operation) int { return strings.Compare(a.Step, b.Step) },
	},
}

// Operations lists the caller's operations that match f.
func (s *Service) Operations(c *Caller, f OperationFilter, p Page) ([]Operation, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return list(s.st, opLister, c, f.match, p, func(_ *store.Tx, o store.Operation) Operation { return operationOf(o) })
}

// CountOperations counts the caller's operations that match f.
func (s *Service) CountOperations(c *Caller, f OperationFilter) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return count(s.st, opLister, c, f.match), nil
}

// CancelOperation cancels one of the caller's operations: a waiting one
// at once, a running one at its next step boundary, rolling back what it
// did. One past its point of no return is refused: it will complete.
func (s *Service) CancelOperation(ctx context.Context, c *Caller, id int64) error {
	var err error
	s.st.View(func(tx *store.Tx) { _, err = opFor(tx, c, id) })
	if err != nil {
		return err
	}
	switch err := s.eng.Cancel(id); {
	case errors.Is(err, ops.ErrFinished):
		return Errorf(ObjOperation, KindConflict, "op_id: operation %d has already finished", id)
	case errors.Is(err, ops.ErrPastNoReturn):
		return Errorf(ObjOperation, KindConflict, "op_id: operation %d is past its point of no return and will complete", id)
	case errors.Is(err, ops.ErrNotFound):
		return notFound(ObjOperation, "operation", id)
	case err != nil:
		return err
	}
	return nil
}
