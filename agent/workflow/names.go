package workflow

import (
	"crypto/sha256"
	"fmt"
)

// The host's names of a record's objects. They are derived from ids, so
// a step that runs again after a crash finds what it made the first time.

// DomainName is the hypervisor's name of VM vmID's domain.
func DomainName(vmID int64) string { return fmt.Sprintf("xa-vm-%d", vmID) }

// VolumeName is the storage's name of disk diskID's volume.
func VolumeName(diskID int64) string { return fmt.Sprintf("xa-disk-%d", diskID) }

// TapName is the tap device of iface ifaceID where there is no bridge (QEMU).
func TapName(ifaceID int64) string { return fmt.Sprintf("xa-t%d", ifaceID) }

// MAC derives a stable MAC in Xen's OUI from an iface id.
func MAC(ifaceID int64) string {
	h := sha256.Sum256([]byte(fmt.Sprint(ifaceID)))
	return fmt.Sprintf("00:16:3e:%02x:%02x:%02x", h[0]&0x7f, h[1], h[2])
}

// Operations on one object run one at a time, in order: these are the
// engine's queue keys.

// VMKey is VM id's queue key.
func VMKey(id int64) string { return fmt.Sprintf("vm:%d", id) }

// DiskKey is disk id's queue key.
func DiskKey(id int64) string { return fmt.Sprintf("disk:%d", id) }

// IfaceKey is iface id's queue key.
func IfaceKey(id int64) string { return fmt.Sprintf("iface:%d", id) }
