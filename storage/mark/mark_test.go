package mark

import (
	"testing"
	"time"
)

func TestQuarantinedNames(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	n := Quarantined("xa-disk-12", at.In(time.FixedZone("CET", 3600)))
	if n != "xa-quarantine-20250304T050607Z-xa-disk-12" {
		t.Fatalf("name = %s", n)
	}
	orig, got, ok := ParseQuarantined(n)
	if !ok || orig != "xa-disk-12" || !got.Equal(at) {
		t.Fatalf("parse = %q %v %v", orig, got, ok)
	}
	for _, bad := range []string{"xa-disk-1", "xa-quarantine-", "xa-quarantine-2025-xa-disk-1", "xa-quarantine-20250304T050607Z", "xa-quarantine-20251304T050607Z-x"} {
		if _, _, ok := ParseQuarantined(bad); ok {
			t.Errorf("%q parsed as quarantined", bad)
		}
	}
}

func TestAllows(t *testing.T) {
	tests := []struct {
		have, want Mark
		ok         bool
	}{
		{Mark{"a", 5}, Mark{"a", 5}, true},
		{Mark{"a", 5}, Mark{"a", 0}, true},
		{Mark{"a", 5}, Mark{"a", 6}, false},
		{Mark{"b", 5}, Mark{"a", 0}, false},
		{Mark{}, Mark{"a", 0}, false},
		{Mark{}, Mark{}, false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.want); got != tt.ok {
			t.Errorf("%v allows %v = %v", tt.have, tt.want, got)
		}
	}
}

func TestValidOwner(t *testing.T) {
	for _, ok := range []string{"0123abcdef456789", "A_b"} {
		if err := ValidOwner(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a,b", "-x", "x/y", string(make([]byte, 65))} {
		if ValidOwner(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
