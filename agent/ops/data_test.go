package ops

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

type testInput struct {
	N     int64     `json:"n"`
	Flag  bool      `json:"flag,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

func TestInputDecoding(t *testing.T) {
	for _, tt := range []struct {
		name, raw string
		want      testInput
		err       string // empty: no error
	}{
		{"none reads as zero", "", testInput{}, ""},
		{"fields", `{"n":3,"flag":true}`, testInput{N: 3, Flag: true}, ""},
		{"a field the type lacks", `{"n":3,"deadline":"x"}`, testInput{}, `operation 7 (w): decoding its input {"n":3,"deadline":"x"} as ops.testInput: json: unknown field "deadline"`},
		{"a value of the wrong kind", `{"n":"3"}`, testInput{}, "operation 7 (w): decoding its input"},
		{"not JSON", `n=3`, testInput{}, "operation 7 (w): decoding its input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InputOf[testInput](store.Operation{ID: 7, Type: "w", Input: json.RawMessage(tt.raw)})
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one saying %q", err, tt.err)
			case tt.err == "" && got != tt.want:
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeOmitsZeroValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    any
		want string
	}{
		{"zero struct", testInput{}, ""},
		{"nil", nil, ""},
		{"a field", testInput{N: 1}, `{"n":1}`},
		{"a time", testInput{Until: time.Date(2026, 12, 3, 2, 15, 42, 669653801, time.UTC)}, `{"n":0,"until":"2026-12-03T02:15:42.669653801Z"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Encode(tt.v)
			if err != nil || string(raw) != tt.want {
				t.Fatalf("Encode = %s, %v; want %s", raw, err, tt.want)
			}
		})
	}
}

// A step whose journalled progress does not decode as its workflow's
// type fails before acting, naming the operation and the document; it
// never runs on a zero value.
func TestUndecodableProgressFailsTheStep(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), func(e *Engine) {
		e.Register("w", Workflow{Steps: []Step{
			step(rec, "a", nil),
			{Name: "b", Prepare: PrepareProgress(func(p *testInput) { p.N++ }), Do: func(context.Context, *Run) error {
				rec.add("do:b")
				return nil
			}},
		}})
	})
	var id int64
	if err := h.st.Update(func(tx *store.Tx) error {
		id = tx.NextID("op", tx.HasOperation)
		tx.PutOperation(store.Operation{ID: id, Type: "w", Step: store.StepWait, Keys: []string{"vm:1"}, Progress: json.RawMessage(`{"n":"many"}`)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.e.Enqueue(id)
	o := h.wait(id)
	if o.Step != store.StepError || !strings.Contains(o.LastError, "decoding its progress") || !strings.Contains(o.LastError, "(w)") {
		t.Fatalf("operation = %s %q, want ERROR naming its progress", o.Step, o.LastError)
	}
	if got := strings.Join(rec.get(), " "); got != "do:a undo:a" {
		t.Fatalf("steps = %s, want b never run and a undone", got)
	}
}

// Prepare's progress is journalled with the step's beginning, and the
// step reads it and journals its own on top.
func TestPreparedProgressReachesTheStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	var seen []int64
	register := func(e *Engine) {
		e.Register("w", Workflow{Steps: []Step{{Name: "b",
			Prepare: PrepareProgress(func(p *testInput) {
				if p.N == 0 {
					p.N = 41
				}
			}),
			Do: func(ctx context.Context, r *Run) error {
				p, err := Progress[testInput](r)
				if err != nil {
					return err
				}
				seen = append(seen, p.N)
				p.N++
				return SetProgress(r, p)
			}}}})
	}
	h := newHarness(t, path, register)
	id := h.submit("w", []string{"vm:1"})
	o := h.wait(id)
	if o.Step != store.StepDone || string(o.Progress) != `{"n":42}` || len(seen) != 1 || seen[0] != 41 {
		t.Fatalf("operation = %s %s, seen %v", o.Step, o.Progress, seen)
	}
}
