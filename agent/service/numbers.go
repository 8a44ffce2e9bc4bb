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

// MaxIfaceID bounds a caller-chosen iface_id: the iface's tap and IFB
// devices are named xa-t<id> and xa-i<id>, and Linux interface names
// have at most 15 characters, leaving 11 digits.
const MaxIfaceID = 99_999_999_999
