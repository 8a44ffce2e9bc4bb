// Package durable makes file writes survive a crash: data synced before
// a rename publishes it, the rename synced in its directory after.
package durable

import (
	"os"
	"path/filepath"
)

// SyncFile flushes a file's data to disk.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// SyncDir makes the entries of dir (a rename, a removal) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Publish syncs tmp, renames it to path and syncs path's directory.
func Publish(tmp, path string) error {
	if err := SyncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
