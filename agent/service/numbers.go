package service

import "math"

// Client numbers become offsets, byte counts and names: each has a bound
// checked before any arithmetic, so no value a client sends can overflow.

// maxPage is the highest page whose first item's offset fits in an int64.
func maxPage(perPage int64) int64 {
	if perPage < 1 {
		return 0
	}
	return math.MaxInt64 / perPage
}

// MaxID bounds every id a caller sends (call_options' vm_id, disk_id,
// iface_id, ip_id, account_id, and every id argument): ids go back to
// clients as XML-RPC <int>, which is 32 bits. A larger one would come
// back as a <double> the agent then refuses (and beyond 2^53 two ids
// would collide). It also keeps iface device names (xa-t<id>, xa-i<id>)
// within Linux's 15 characters: 10 digits where 11 fit.
const MaxID = math.MaxInt32

// Free text kept in the state is bounded, so that no accepted call grows
// state.db by more than a few KiB (a body may be 1 MiB). Hostnames,
// logins and iface labels are DNS labels (63), disk and ssh key names 64
// characters, reverse names 253, passwords 128, idempotency keys 128,
// kernel command lines 1024: their own rules bound them.
const (
	// MaxRunBytes bounds a VM's first-boot script (run), as EC2 bounds
	// user-data.
	MaxRunBytes = 16 << 10
	// MaxSSHKeyBytes bounds an OpenSSH public key line: a 16384-bit RSA
	// key is ~2.8 KB of base64, leaving room for a comment.
	MaxSSHKeyBytes = 8 << 10
	// MaxVMKeys bounds the ssh key ids a VM is created with.
	MaxVMKeys = 64
)
