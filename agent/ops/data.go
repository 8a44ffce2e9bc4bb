package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/xenagent/xenagent/agent/store"
)

// An operation carries two typed documents, journalled as JSON: its
// input (store.Operation.Input), fixed at submission, and its progress
// (store.Operation.Progress), what its steps journal as they go. Each
// operation type has one Go type for each (agent/workflow defines them);
// these helpers read and write them. A document that does not decode as
// the type asked for (a field it does not have, a value of the wrong
// kind) is an error naming the operation and the document: the step
// fails rather than run on a zero value.

// Input decodes the operation's input. An operation submitted without
// one reads as T's zero value.
func Input[T any](r *Run) (T, error) { return InputOf[T](r.op) }

// InputOf is Input for a hook that holds the record (Abandon).
func InputOf[T any](op store.Operation) (T, error) { return decode[T](op, "input", op.Input) }

// Progress decodes what the operation's steps journalled so far; nothing
// yet reads as T's zero value.
func Progress[T any](r *Run) (T, error) { return ProgressOf[T](r.op) }

// ProgressOf is Progress for a hook or a transaction that holds the record.
func ProgressOf[T any](op store.Operation) (T, error) { return decode[T](op, "progress", op.Progress) }

// SetProgress journals p as the operation's progress, durably: call it
// before acting on what it records (a deadline, a message about to be
// sent), so that a resumed step finds it.
func SetProgress[T any](r *Run, p T) error {
	raw, err := encode(r.op, "progress", p)
	if err != nil {
		return err
	}
	return r.e.st.Update(func(tx *store.Tx) error {
		o, err := r.current(tx)
		if err != nil {
			return err
		}
		o.Progress = raw
		tx.PutOperation(o)
		r.op = o
		return nil
	})
}

// PutProgress sets p as op's progress inside Run.Update, so that it lands
// in the same write as the records the step changes.
func PutProgress[T any](op *store.Operation, p T) error {
	raw, err := encode(*op, "progress", p)
	if err != nil {
		return err
	}
	op.Progress = raw
	return nil
}

// PrepareProgress makes a Step.Prepare of fn, which fills in the
// operation's progress before the step begins (its deadline).
func PrepareProgress[T any](fn func(p *T)) func(op store.Operation) (json.RawMessage, error) {
	return func(op store.Operation) (json.RawMessage, error) {
		p, err := ProgressOf[T](op)
		if err != nil {
			return nil, err
		}
		fn(&p)
		return encode(op, "progress", p)
	}
}

// Encode is v as an operation journals it: JSON, or nothing at all for
// a zero value (nil, an input that says nothing), which reads back as zero.
func Encode(v any) (json.RawMessage, error) {
	if v == nil || reflect.ValueOf(v).IsZero() {
		return nil, nil
	}
	return json.Marshal(v)
}

func encode(op store.Operation, field string, v any) (json.RawMessage, error) {
	raw, err := Encode(v)
	if err != nil {
		return nil, fmt.Errorf("operation %d (%s): encoding its %s (%T): %w", op.ID, op.Type, field, v, err)
	}
	return raw, nil
}

func decode[T any](op store.Operation, field string, raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	// A field T does not have means the document is another type's (or a
	// newer agent's): reading it as T would silently drop what it says.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("operation %d (%s): decoding its %s %s as %T: %w", op.ID, op.Type, field, raw, v, err)
	}
	return v, nil
}
