package service

import (
	"slices"
	"sort"
	"time"

	"github.com/xenagent/xenagent/agent/store"
)

// APIVersion is the Gandi hosting API version whose shape we serve.
const APIVersion = "3.3.42"

// VersionInfo is what version.info shows.
type VersionInfo struct {
	// API is the Gandi hosting API version served (APIVersion); Agent is
	// this agent's build.
	API, Agent string
}

// Version says which API and which agent answer.
func (s *Service) Version() VersionInfo {
	return VersionInfo{API: APIVersion, Agent: s.cfg.Version}
}

// DatacenterFilter selects datacenters: IDs, when not empty, and each
// string, when not "", is a match.
type DatacenterFilter struct {
	IDs                []int64
	ISO, Country, Code string
}

// Datacenters lists the datacenters that match f: this host's one, or none.
func (s *Service) Datacenters(f DatacenterFilter) []Datacenter {
	dc := s.cfg.Datacenter
	if (len(f.IDs) > 0 && !slices.Contains(f.IDs, dc.ID)) || (f.ISO != "" && f.ISO != dc.ISO) ||
		(f.Country != "" && f.Country != dc.Country) || (f.Code != "" && f.Code != dc.Code) {
		return []Datacenter{}
	}
	return []Datacenter{dc}
}

// Image is a disk image VMs are created from, as a client sees it.
type Image struct {
	ID           int64
	Label        string
	OSArch       string
	DatacenterID int64
	DiskID       int64
	AuthorID     int64
	Visibility   string
	DateCreated  time.Time
	DateUpdated  time.Time
}

// ImageFilter selects images: each list, when not empty, and each
// string, when not "", is a match.
type ImageFilter struct {
	DatacenterIDs, IDs []int64
	Labels             []string
	// LabelLike is the "~label" filter: a case-insensitive SQL LIKE.
	LabelLike string
	OSArch    string
}

func (f ImageFilter) match(i *store.Image) bool {
	return (len(f.DatacenterIDs) == 0 || slices.Contains(f.DatacenterIDs, i.DatacenterID)) && (len(f.IDs) == 0 || slices.Contains(f.IDs, i.ID)) &&
		(len(f.Labels) == 0 || slices.Contains(f.Labels, i.Label)) && (f.LabelLike == "" || likeMatch(f.LabelLike, i.Label)) &&
		(f.OSArch == "" || f.OSArch == i.OSArch)
}

// Images lists the images that match f, by id. Images are everyone's:
// the list is the same for every caller.
func (s *Service) Images(f ImageFilter) []Image {
	out := []Image{}
	s.st.View(func(tx *store.Tx) {
		tx.EachImage(func(i *store.Image) bool {
			if f.match(i) {
				out = append(out, Image{ID: i.ID, Label: i.Label, OSArch: i.OSArch, DatacenterID: i.DatacenterID, DiskID: i.DiskID,
					AuthorID: i.AuthorID, Visibility: i.Visibility, DateCreated: i.DateCreated, DateUpdated: i.DateUpdated})
			}
			return true
		})
	})
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}
