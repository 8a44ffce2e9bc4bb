package hostfake

import (
	"context"
	"fmt"
	"sync"
)

// Fault makes the calls of one method fail.
type Fault struct {
	// Err is what a failing call returns (an error naming the method when nil).
	Err error
	// Name, when set, limits the fault to calls on that name: the domain,
	// the volume (a Clone's destination, a Rename's source), the device
	// (Read), the iface id in decimal (Wire, Unplugged, Unwire), or the
	// VM id in decimal (Seeds' Write, Remove).
	Name string
	// After: the call acts, then fails, as a call whose answer was lost
	// (a timeout, a crash just after it acted) does. Otherwise it fails
	// before acting and changes nothing, as a refused call does.
	After bool
	// Times is how many calls fail before the fault clears; 0 is every call.
	Times int
}

// Call is one call a fake received, failed or not.
type Call struct {
	Method, Name string
}

// Faults records the calls a fake receives and fails them on demand.
// Every fake embeds one; its zero value injects nothing.
type Faults struct {
	mu     sync.Mutex
	faults map[string]*Fault
	hook   func(method, name string) error
	calls  []Call
}

// Fail makes calls of method fail as f says, replacing any fault set for it.
func (f *Faults) Fail(method string, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.faults == nil {
		f.faults = map[string]*Fault{}
	}
	f.faults[method] = &ft
}

// Hook sets fn to run before every call (nil removes it): an error fails
// the call before it acts. It decides per call what Fail cannot express
// (the second Start, every call on one domain...).
func (f *Faults) Hook(fn func(method, name string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = fn
}

// Clear removes every fault and the hook; the calls stay recorded.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults, f.hook = nil, nil
}

// Calls returns the calls received so far, in order.
func (f *Faults) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Count is how many calls of method were received.
func (f *Faults) Count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// enter records a call and says how it fails: before it acts, or after.
func (f *Faults) enter(method, name string) (before, after error) {
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: method, Name: name})
	hook := f.hook
	ft := f.faults[method]
	var err error
	if ft != nil && (ft.Name == "" || ft.Name == name) {
		err = ft.Err
		if err == nil {
			err = fmt.Errorf("hostfake: %s %s: injected failure", method, name)
		}
		if ft.Times > 0 {
			if ft.Times--; ft.Times == 0 {
				delete(f.faults, method)
			}
		}
		if ft.After {
			before, after = nil, err
		} else {
			before = err
		}
	}
	f.mu.Unlock()
	if before == nil && hook != nil {
		before = hook(method, name)
	}
	return before, after
}

// call runs fn as method on name: recorded, failed as the faults say,
// and refused once ctx has ended.
func (f *Faults) call(ctx context.Context, method, name string, fn func() error) error {
	before, after := f.enter(method, name)
	if before != nil {
		return before
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return after
}
