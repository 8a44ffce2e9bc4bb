package ipam

import (
	"net/netip"
	"testing"
)

func TestParseAndNext(t *testing.T) {
	p, err := Parse("10.0.0.0/29", "10.0.0.1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	taken := map[netip.Addr]bool{}
	var got []string
	for {
		a, ok := p.Next(func(a netip.Addr) bool { return taken[a] })
		if !ok {
			break
		}
		taken[a] = true
		got = append(got, a.String())
	}
	want := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
	if len(got) != len(want) {
		t.Fatalf("handed out %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("handed out %v, want %v", got, want)
		}
	}
}

func TestParseV6Range(t *testing.T) {
	p, err := Parse("2001:db8::/64", "2001:db8::1", "2001:db8::100", "2001:db8::101")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 6 {
		t.Fatalf("version = %d", p.Version)
	}
	a, _ := p.Next(func(netip.Addr) bool { return false })
	if a.String() != "2001:db8::100" {
		t.Fatalf("first = %s", a)
	}
	if p.Contains(netip.MustParseAddr("2001:db8::102")) {
		t.Error("address past the range is contained")
	}
}

func TestParseRejects(t *testing.T) {
	tests := [][4]string{
		{"bogus", "", "", ""},
		{"10.0.0.0/24", "10.1.0.1", "", ""},
		{"10.0.0.0/24", "", "10.0.0.9", "10.0.0.3"},
		{"10.0.0.0/24", "", "11.0.0.1", ""},
	}
	for _, tt := range tests {
		if _, err := Parse(tt[0], tt[1], tt[2], tt[3]); err == nil {
			t.Errorf("Parse%v accepted", tt)
		}
	}
}
