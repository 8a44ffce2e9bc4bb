// Package service holds the rules of the seed documents, whatever face a
// call comes through: typed requests are checked (every refusal a typed
// *Error naming the field and the rule), records reserved, quotas and
// snapshot policies applied and operations submitted, idempotently, in
// one store transaction; reads answer typed views. It knows no wire
// format (the faces under agent/api decode and render) and no step of an
// operation (agent/workflow runs them).
package service

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Datacenter is the one datacenter this host belongs to.
type Datacenter struct {
	ID      int64
	Name    string
	Country string
	ISO     string
	Code    string
}

// Limits bound what a call may ask for.
type Limits struct {
	MaxMemoryMB    int64
	MaxCores       int64
	MaxDiskMB      int64
	MaxBandwidth   float64 // bit/s
	DefaultQuotaMB int64
	// AllowUnlimited: a call may ask for an unshaped iface.
	AllowUnlimited bool
}

// Config is what the service needs from the agent's configuration.
type Config struct {
	Version    string
	Datacenter Datacenter
	Limits     Limits
	Network    workflow.Network
	// KernelsDir holds the kernels a system disk may name.
	KernelsDir string
	// SnapshotProfiles are the automatic snapshot policies disks may use.
	SnapshotProfiles []SnapshotProfile
	// NoCDROM says the host's domains have no CD-ROM (Xen PV): ISO calls
	// are refused (iso.go).
	NoCDROM bool
	// Quotas are what accounts are granted (quota.go).
	Quotas Quotas
	// FSTypes are the filesystems a new disk may be created with (the
	// host's Formatter's); none: only empty disks.
	FSTypes []string
	// FSMinMB is the smallest size, in MB, a disk made with each of
	// FSTypes may have (mkfs refuses less); absent: size's own bound.
	FSMinMB map[string]int64
}

// Service implements the API methods.
type Service struct {
	cfg Config
	st  *store.Store
	eng *ops.Engine
	// wf are the steps the operations run; the service reads from it
	// only the live traffic counters and the volume names taken.
	wf  *workflow.Workflows
	log *slog.Logger
	// hostSrc feeds HostInfo (SetHostSources).
	hostSrc HostSources
	// console mints console links (console.go); nil: none served.
	console *consoleLinks
	// stats answers series and mints graph links (stats.go); nil: none.
	stats *statsDeps
}

// New makes the service over the store and engine the workflows use.
func New(cfg Config, st *store.Store, eng *ops.Engine, wf *workflow.Workflows, log *slog.Logger) *Service {
	return &Service{cfg: cfg, st: st, eng: eng, wf: wf, log: log}
}

// Caller is an authenticated API key.
type Caller struct {
	AccountID int64
	Handle    string
	Operator  bool
}

// owns reports whether the caller may see a resource of accountID.
func (c *Caller) owns(accountID int64) bool { return c.Operator || c.AccountID == accountID }

// HashKey is how keys are stored.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Authenticate maps an API key to its caller. operatorHash is the stored
// hash of the operator key. Every failure is the same fault, whatever
// object the call was about, so keys cannot be probed.
func (s *Service) Authenticate(key, operatorHash string) (*Caller, error) {
	h := HashKey(key)
	if operatorHash != "" && subtle.ConstantTimeCompare([]byte(h), []byte(operatorHash)) == 1 {
		return &Caller{Operator: true, Handle: "OPERATOR"}, nil
	}
	var c *Caller
	var disabled int64
	s.st.View(func(tx *store.Tx) {
		tx.EachAccount(func(a *store.Account) bool {
			if subtle.ConstantTimeCompare([]byte(h), []byte(a.KeyHash)) == 1 {
				// A disabled account's key is refused as an unknown one
				// (nothing tells the caller the account exists); the
				// search goes on, should an enabled account have been
				// given the same key since.
				if a.Disabled {
					disabled = a.ID
					return true
				}
				c = &Caller{AccountID: a.ID, Handle: a.Handle}
				return false
			}
			return true
		})
	})
	if c == nil {
		if disabled != 0 {
			s.log.Warn("API key of a disabled account refused (gone from [[accounts]])", "account_id", disabled)
		}
		return nil, ErrBadKey
	}
	return c, nil
}

// ErrBadKey is the one answer to any unknown key.
var ErrBadKey = Errorf(ObjAccount, KindNoRight, "invalid API key")

// EnsureAccount creates or updates an account by handle; used at start
// for configured accounts and the demo account.
func (s *Service) EnsureAccount(handle, fullname, keyHash string, quotaMB int64) (int64, error) {
	var id int64
	err := s.st.Update(func(tx *store.Tx) error {
		tx.EachAccount(func(a *store.Account) bool {
			if a.Handle == handle {
				id = a.ID
				return false
			}
			return true
		})
		a := store.Account{ID: id, Handle: handle, Fullname: fullname, KeyHash: keyHash, DiskQuotaMB: quotaMB, DateCreated: now()}
		if id == 0 {
			a.ID = tx.NextID("account", func(n int64) bool { _, ok := tx.Account(n); return ok })
			id = a.ID
		} else {
			old, _ := tx.Account(id)
			a.DateCreated = old.DateCreated
			a.Quota, a.Configured = old.Quota, old.Configured // quota.go
			a.PasswordHash = old.PasswordHash                 // SetAccountPassword's (login.go)
			a.Disabled = old.Disabled                         // RetireAccounts' (account.go), which logs each change
			if old == a {
				return nil
			}
		}
		tx.PutAccount(a)
		return nil
	})
	return id, err
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
