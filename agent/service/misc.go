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

// Account is what account.info shows of the caller's account.
type Account struct {
	ID               int64
	Handle, Fullname string
	Used             Usage
	// GrantedDiskMB is the account's disk quota; AvailableDiskMB what is
	// left of it (never below 0).
	GrantedDiskMB, AvailableDiskMB int64
}

// Usage is what an account's resources add up to.
type Usage struct {
	Servers, MemoryMB, Cores, DiskMB, IPs int64
	Bandwidth                             float64 // bit/s, all its ifaces
}

// Account reads the caller's account and what it uses. The operator key
// has none.
func (s *Service) Account(c *Caller) (Account, error) {
	if c.Operator {
		return Account{}, Errorf(ObjAccount, KindConflict, "the operator key has no account; use an account's key")
	}
	var out Account
	s.st.View(func(tx *store.Tx) {
		acct, _ := tx.Account(c.AccountID)
		var u Usage
		tx.EachVM(func(v *store.VM) bool {
			if v.AccountID == c.AccountID {
				u.Servers++
				u.MemoryMB += v.Memory
				u.Cores += v.Cores
			}
			return true
		})
		tx.EachIface(func(i *store.Iface) bool {
			if i.AccountID == c.AccountID {
				u.Bandwidth += i.Bandwidth
				u.IPs += int64(len(i.IPIDs))
			}
			return true
		})
		u.DiskMB = s.usedDiskMB(tx, c.AccountID)
		quota := s.quotaMB(tx, c.AccountID)
		out = Account{ID: acct.ID, Handle: acct.Handle, Fullname: acct.Fullname, Used: u,
			GrantedDiskMB: quota, AvailableDiskMB: max(quota-u.DiskMB, 0)}
	})
	return out, nil
}
