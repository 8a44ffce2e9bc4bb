package service

import (
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

func TestOperationFilter(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	op := &store.Operation{ID: 3, Type: "vm_start", Step: store.StepDone, VMID: 7,
		DateCreated: t0, DateStart: t0.Add(time.Second), DateUpdated: t0.Add(time.Minute)}
	at := func(field, cmp string, d time.Duration) DateBound {
		return DateBound{Field: field, Op: cmp, At: t0.Add(d)}
	}
	tests := []struct {
		name string
		f    OperationFilter
		want bool
	}{
		{"empty", OperationFilter{}, true},
		{"type", OperationFilter{Types: []string{"vm_stop", "vm_start"}}, true},
		{"other type", OperationFilter{Types: []string{"vm_stop"}}, false},
		{"step and vm", OperationFilter{Steps: []string{store.StepDone}, VMIDs: []int64{7}}, true},
		{"other disk", OperationFilter{DiskIDs: []int64{7}}, false},
		{">= its date", OperationFilter{Dates: []DateBound{at("date_created", ">=", 0)}}, true},
		{"> its date", OperationFilter{Dates: []DateBound{at("date_created", ">", 0)}}, false},
		{"> a second before", OperationFilter{Dates: []DateBound{at("date_created", ">", -time.Second)}}, true},
		{"<= its date", OperationFilter{Dates: []DateBound{at("date_updated", "<=", time.Minute)}}, true},
		{"< its date", OperationFilter{Dates: []DateBound{at("date_updated", "<", time.Minute)}}, false},
		{"< a second after", OperationFilter{Dates: []DateBound{at("date_start", "<", 2*time.Second)}}, true},
		{"within a range", OperationFilter{Dates: []DateBound{at("date_created", ">=", -time.Hour), at("date_created", "<", time.Hour)}}, true},
		{"every bound holds", OperationFilter{Dates: []DateBound{at("date_created", ">=", -time.Hour), at("date_created", ">", 0)}}, false},
	}
	for _, tt := range tests {
		if err := tt.f.check(); err != nil {
			t.Errorf("%s: check: %v", tt.name, err)
		}
		if got := tt.f.match(op); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOperationFilterCheck(t *testing.T) {
	tests := []struct {
		name  string
		f     OperationFilter
		field string
	}{
		{"unknown step", OperationFilter{Steps: []string{store.StepDone, "done"}}, "step"},
		{"unknown date field", OperationFilter{Dates: []DateBound{{Field: "date_deleted", Op: ">="}}}, "date_deleted >="},
		{"unknown comparison", OperationFilter{Dates: []DateBound{{Field: "date_created", Op: "=="}}}, "date_created =="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRefusal(t, tt.f.check(), KindInvalid, tt.field) })
	}
}
