package host

import "context"

// Formatter makes filesystems on volumes: a disk created with a
// filesystem type (the Gandi v1 face's disk_create fstype) is formatted
// once its volume exists, so the guest finds a filesystem to mount.
type Formatter interface {
	// FSTypes are the filesystems this host can make (its mkfs tools).
	FSTypes() []string
	// Format makes an empty filesystem of fstype on the volume at path
	// (a file or a block device), replacing whatever was there.
	Format(ctx context.Context, path, fstype string) error
}
