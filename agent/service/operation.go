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

func (s *Service) operationInfo(ctx context.Context, c *Caller, a args) (any, error) {
	return lookupInfo(s.st, c, a, ObjOperation, "op_id", opFor, func(tx *store.Tx, o store.Operation) map[string]any { return renderOp(o) })
}

type opFilter struct {
	types, steps            []string
	ids, vms, disks, ifaces []int64
	after, before           map[string]time.Time
}

var opSteps = []string{store.StepWait, store.StepRun, store.StepDone, store.StepError, store.StepCancel}

func parseOpFilter(sp *spec) (opFilter, error) {
	f := opFilter{after: map[string]time.Time{}, before: map[string]time.Time{}}
	var err error
	if f.types, err = sp.strs("type"); err != nil {
		return f, err
	}
	if f.steps, err = sp.strs("step"); err != nil {
		return f, err
	}
	for _, st := range f.steps {
		if !slices.Contains(opSteps, st) {
			return f, invalid(ObjOperation, "step", "must be one of %s", strings.Join(opSteps, ", "))
		}
	}
	for key, dst := range map[string]*[]int64{"id": &f.ids, "vm_id": &f.vms, "disk_id": &f.disks, "iface_id": &f.ifaces} {
		if *dst, err = sp.ints(key); err != nil {
			return f, err
		}
	}
	// Date ranges use Gandi's operator-suffixed keys: "date_created >=".
	for _, field := range []string{"date_created", "date_updated", "date_start"} {
		for _, op := range []string{" >=", " <=", " >", " <"} {
			t, ok, err := sp.time(field + op)
			if err != nil {
				return f, err
			}
			if !ok {
				continue
			}
			if strings.Contains(op, ">") {
				if op == " >" {
					t = t.Add(time.Second)
				}
				f.after[field] = t
			} else {
				if op == " <" {
					t = t.Add(-time.Second)
				}
				f.before[field] = t
			}
		}
	}
	return f, nil
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

func (f opFilter) match(o *store.Operation) bool {
	if !((len(f.types) == 0 || slices.Contains(f.types, o.Type)) && (len(f.steps) == 0 || slices.Contains(f.steps, o.Step)) &&
		(len(f.ids) == 0 || slices.Contains(f.ids, o.ID)) && (len(f.vms) == 0 || slices.Contains(f.vms, o.VMID)) &&
		(len(f.disks) == 0 || slices.Contains(f.disks, o.DiskID)) && (len(f.ifaces) == 0 || slices.Contains(f.ifaces, o.IfaceID))) {
		return false
	}
	for field, t := range f.after {
		if opDate(o, field).Before(t) {
			return false
		}
	}
	for field, t := range f.before {
		if opDate(o, field).After(t) {
			return false
		}
	}
	return true
}

var opSortKeys = map[string]func(a, b *store.Operation) int{
	"id":           func(a, b *store.Operation) int { return cmp64(a.ID, b.ID) },
	"date_created": func(a, b *store.Operation) int { return a.DateCreated.Compare(b.DateCreated) },
	"date_updated": func(a, b *store.Operation) int { return a.DateUpdated.Compare(b.DateUpdated) },
	"type":         func(a, b *store.Operation) int { return strings.Compare(a.Type, b.Type) },
	"step":         func(a, b *store.Operation) int { return strings.Compare(a.Step, b.Step) },
}

var opQuery = query[store.Operation]{
	obj:   ObjOperation,
	each:  (*store.Tx).EachOperation,
	owner: func(o *store.Operation) int64 { return o.AccountID },
	filter: func(sp *spec) (func(*store.Operation) bool, error) {
		f, err := parseOpFilter(sp)
		return f.match, err
	},
	sortKeys: opSortKeys,
	render:   func(tx *store.Tx, o store.Operation) any { return renderOp(o) },
}

func (s *Service) operationCancel(ctx context.Context, c *Caller, a args) (any, error) {
	a.obj = ObjOperation
	id, err := a.int(0, "op_id")
	if err != nil {
		return nil, err
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	s.st.View(func(tx *store.Tx) { _, err = opFor(tx, c, id) })
	if err != nil {
		return nil, err
	}
	switch err := s.eng.Cancel(id); {
	case errors.Is(err, ops.ErrFinished):
		return nil, fault(ObjOperation, KindConflict, "op_id: operation %d has already finished", id)
	case errors.Is(err, ops.ErrPastNoReturn):
		return nil, fault(ObjOperation, KindConflict, "op_id: operation %d is past its point of no return and will complete", id)
	case errors.Is(err, ops.ErrNotFound):
		return nil, notFound(ObjOperation, "operation", id)
	case err != nil:
		return nil, err
	}
	return true, nil
}
