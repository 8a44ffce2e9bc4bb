package service

import (
	"strconv"

	"github.com/xenagent/xenagent/agent/store"
)

// diskEntityID is DiskReturn's entity_id. The seed types it as a string
// and says nothing more, and the recorded responses of the real API do
// not carry it; a client can only use it as an opaque, stable key. It is
// the disk's id in decimal: unique among disks and snapshots like id,
// never reused for another disk, and telling nothing of the host (the
// storage volume's name would, and changes on adoption).
func diskEntityID(d store.Disk) string { return strconv.FormatInt(d.ID, 10) }
