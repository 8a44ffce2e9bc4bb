package hypervisor

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestEventLoopStartRetriesAFailedRegistration: a failed registration is
// reported and tried again by the next start, and once one succeeds the
// loop runs and is never registered again.
func TestEventLoopStartRetriesAFailedRegistration(t *testing.T) {
	errRegister := errors.New("virEventRegisterDefaultImpl failed")
	for _, tc := range []struct {
		name     string
		failures int     // registrations that fail before one succeeds
		want     []error // what each start returns
	}{
		{"first try succeeds", 0, []error{nil, nil, nil}},
		{"first try fails", 1, []error{errRegister, nil, nil}},
		{"two tries fail", 2, []error{errRegister, errRegister, nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			registered := 0
			running := make(chan struct{}, 1)
			l := &eventLoop{
				register: func() error {
					registered++
					if registered <= tc.failures {
						return errRegister
					}
					return nil
				},
				run: func() error {
					select {
					case running <- struct{}{}:
					default:
					}
					// Stands in for the C loop, which blocks waiting for
					// events: the goroutine stays parked until the test
					// binary exits.
					select {}
				},
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			for i, want := range tc.want {
				if err := l.start(log); !errors.Is(err, want) {
					t.Fatalf("start #%d = %v, want %v", i+1, err, want)
				}
			}
			if registered != tc.failures+1 {
				t.Errorf("registered %d times, want %d (each failure, then one success)", registered, tc.failures+1)
			}
			select {
			case <-running:
			case <-time.After(5 * time.Second):
				t.Fatal("event loop not running after a successful start")
			}
		})
	}
}
