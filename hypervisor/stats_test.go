package hypervisor

import (
	"context"
	"testing"
	"time"
)

// The test driver gives only the state group: AllStats must still
// answer, with every marked domain and no one else's.
func TestAllStatsOnTestDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := openTest(t)
	a, b := testSpec("xa-stats-a"), testSpec("xa-stats-bb")
	a.VMID, b.VMID = 11, 12
	for _, s := range []DomainSpec{a, b} {
		if err := d.Define(ctx, s); err != nil {
			t.Fatal(err)
		}
		defer d.Undefine(ctx, s.Name)
	}
	if err := d.Start(ctx, a.Name); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // the second from the cache
		got, err := d.AllStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]bool{}
		for _, s := range got {
			if s.Name == "test" {
				t.Fatalf("round %d: the driver's own unmarked domain is reported", round)
			}
			byName[s.Name] = true
			switch s.Name {
			case a.Name:
				if !s.Running || s.VMID != 11 {
					t.Errorf("round %d: %s = %+v, want running vm 11", round, s.Name, s)
				}
			case b.Name:
				if s.Running || s.VMID != 12 {
					t.Errorf("round %d: %s = %+v, want stopped vm 12", round, s.Name, s)
				}
			}
		}
		if !byName[a.Name] || !byName[b.Name] {
			t.Fatalf("round %d: got %v, want both marked domains", round, byName)
		}
	}
	if err := d.Undefine(ctx, b.Name); err != nil {
		t.Fatal(err)
	}
	got, err := d.AllStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		if s.Name == b.Name {
			t.Fatalf("undefined domain still reported")
		}
	}
}
