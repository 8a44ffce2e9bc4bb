package service

import (
	"testing"

	"github.com/xenagent/xenagent/agent/store"
)

func TestDatacenters(t *testing.T) {
	dc := Datacenter{ID: 1, Name: "Test", Country: "France", ISO: "FR", Code: "FR-T1"}
	s := &Service{cfg: Config{Datacenter: dc}}
	tests := []struct {
		name string
		f    DatacenterFilter
		want int
	}{
		{"all", DatacenterFilter{}, 1},
		{"by id", DatacenterFilter{IDs: []int64{2, 1}}, 1},
		{"other id", DatacenterFilter{IDs: []int64{2}}, 0},
		{"by iso, country and code", DatacenterFilter{ISO: "FR", Country: "France", Code: "FR-T1"}, 1},
		{"other code", DatacenterFilter{Code: "LU-BI1"}, 0},
	}
	for _, tt := range tests {
		got := s.Datacenters(tt.f)
		if len(got) != tt.want || got == nil || tt.want == 1 && got[0] != dc {
			t.Errorf("%s: Datacenters = %#v, want %d", tt.name, got, tt.want)
		}
	}
}

func TestImageFilter(t *testing.T) {
	img := &store.Image{ID: 4, Label: "Debian 12 bookworm", OSArch: "x86-64", DatacenterID: 1}
	tests := []struct {
		name string
		f    ImageFilter
		want bool
	}{
		{"all", ImageFilter{}, true},
		{"by id and datacenter", ImageFilter{IDs: []int64{3, 4}, DatacenterIDs: []int64{1}}, true},
		{"other datacenter", ImageFilter{DatacenterIDs: []int64{2}}, false},
		{"exact label", ImageFilter{Labels: []string{"Debian 12 bookworm"}}, true},
		{"label is not a substring match", ImageFilter{Labels: []string{"Debian"}}, false},
		{"~label substring, any case", ImageFilter{LabelLike: "debian"}, true},
		{"~label pattern", ImageFilter{LabelLike: "debian 1_ %"}, true},
		{"~label no match", ImageFilter{LabelLike: "ubuntu"}, false},
		{"arch", ImageFilter{OSArch: "x86-32"}, false},
	}
	for _, tt := range tests {
		if got := tt.f.match(img); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
