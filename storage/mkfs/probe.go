package mkfs

import (
	"encoding/binary"
	"os"
)

// IsExt reports whether the volume at path holds an ext2/3/4 filesystem:
// its superblock (at 1024 bytes) has the magic 0xEF53 at offset 56.
func IsExt(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [2]byte
	if _, err := f.ReadAt(magic[:], 1024+56); err != nil {
		return false
	}
	return binary.LittleEndian.Uint16(magic[:]) == 0xEF53
}
