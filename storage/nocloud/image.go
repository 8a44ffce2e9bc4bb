package nocloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/storage/durable"
)

// Label is the volume label cloud-init's NoCloud source looks for.
const Label = "cidata"

// Files renders a seed's NoCloud files: user-data, meta-data and, when
// the VM has interfaces, network-config (netplan version 2). cloud-config
// is YAML, and JSON is YAML: encoding it as JSON quotes any command or key
// safely.
func Files(c host.SeedSpec) (map[string][]byte, error) {
	type user = userEntry
	root := user{Name: "root", LockPasswd: c.PasswordHash == "", HashedPasswd: c.PasswordHash, SSHAuthorizedKeys: c.AuthorizedKeys}
	users := []user{root}
	if c.Login != "" {
		users = append(users, user{Name: c.Login, LockPasswd: c.PasswordHash == "", HashedPasswd: c.PasswordHash,
			SSHAuthorizedKeys: c.AuthorizedKeys, Sudo: "ALL=(ALL) NOPASSWD:ALL", Groups: "sudo", Shell: "/bin/bash"})
	}
	cloudConfig := map[string]any{
		"hostname":          c.Hostname,
		"preserve_hostname": false,
		"users":             users,
		"disable_root":      false,
		"ssh_pwauth":        c.PasswordHash != "",
	}
	if c.Again {
		again(cloudConfig, c, users)
	}
	if c.Run != "" && !c.Again {
		cloudConfig["runcmd"] = []any{[]string{"sh", "-c", "cd / && " + c.Run}}
	}
	userData, err := json.MarshalIndent(cloudConfig, "", "  ")
	if err != nil {
		return nil, err
	}
	metaData, err := json.MarshalIndent(map[string]string{"instance-id": c.InstanceID, "local-hostname": c.Hostname}, "", "  ")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"user-data": append([]byte("#cloud-config\n"), userData...),
		"meta-data": append(metaData, '\n'),
	}
	if len(c.Ifaces) > 0 {
		ethernets := map[string]any{}
		for n, i := range c.Ifaces {
			eth := map[string]any{"match": map[string]string{"macaddress": i.MAC}, "set-name": fmt.Sprintf("eth%d", n)}
			var addrs []string
			for _, p := range i.Addresses {
				addrs = append(addrs, p.String())
			}
			eth["addresses"] = addrs
			if i.Gateway4.IsValid() {
				eth["gateway4"] = i.Gateway4.String()
			}
			if i.Gateway6.IsValid() {
				eth["gateway6"] = i.Gateway6.String()
			}
			ethernets[fmt.Sprintf("eth%d", n)] = eth
		}
		nc, err := json.MarshalIndent(map[string]any{"version": 2, "ethernets": ethernets}, "", "  ")
		if err != nil {
			return nil, err
		}
		files["network-config"] = append(nc, '\n')
	}
	return files, nil
}

// userEntry is one of cloud-config's users.
type userEntry struct {
	Name              string   `json:"name"`
	LockPasswd        bool     `json:"lock_passwd"`
	HashedPasswd      string   `json:"hashed_passwd,omitempty"`
	SSHAuthorizedKeys []string `json:"ssh_authorized_keys,omitempty"`
	Sudo              string   `json:"sudo,omitempty"`
	Groups            string   `json:"groups,omitempty"`
	Shell             string   `json:"shell,omitempty"`
}

// WriteImage builds the seed image at path, replacing any earlier one
// only once the new one is whole. Its work files go to a ".seed-work-"
// directory beside path, which a crash may leave for Sweep.
func WriteImage(path string, c host.SeedSpec) error {
	files, err := Files(c)
	if err != nil {
		return err
	}
	size := int64(1 << 20) // an ISO's fixed structures and a few KiB of files
	for _, b := range files {
		size += int64(len(b)) + 2048
	}
	size = (size + 2047) / 2048 * 2048
	work, err := os.MkdirTemp(filepath.Dir(path), ".seed-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tmp, tree := filepath.Join(work, "seed.iso"), filepath.Join(work, "tree")
	if err := os.Mkdir(tree, 0o700); err != nil {
		return err
	}
	d, err := diskfs.Create(tmp, size, diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	closed := false
	defer func() {
		if !closed {
			d.Close()
		}
	}()
	d.LogicalBlocksize = 2048
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeISO9660, VolumeLabel: Label, WorkDir: tree})
	if err != nil {
		return fmt.Errorf("seed filesystem: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, err := fs.OpenFile("/"+name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
		if _, err := f.Write(files[name]); err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
		f.Close()
	}
	iso, ok := fs.(*iso9660.FileSystem)
	if !ok {
		return errors.New("seed: not an iso9660 filesystem")
	}
	if err := iso.Finalize(iso9660.FinalizeOptions{RockRidge: true, VolumeIdentifier: Label}); err != nil {
		return fmt.Errorf("seed: finalizing: %w", err)
	}
	closed = true
	if err := d.Close(); err != nil {
		return err
	}
	return durable.Publish(tmp, path)
}

// ReadImage returns the NoCloud files of a seed image and its volume
// label: what a guest's cloud-init finds.
func ReadImage(path string) (map[string][]byte, string, error) {
	d, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, "", err
	}
	defer d.Close()
	d.LogicalBlocksize = 2048
	fs, err := d.GetFilesystem(0)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", path, err)
	}
	out := map[string][]byte{}
	for _, name := range []string{"user-data", "meta-data", "network-config"} {
		f, err := fs.OpenFile("/"+name, os.O_RDONLY)
		if err != nil {
			continue // network-config is optional
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("reading %s in %s: %w", name, path, err)
		}
		out[name] = data
	}
	// go-diskfs pads the identifier with NULs where the standard says
	// spaces; C readers (blkid, the kernel) stop at the first NUL anyway.
	return out, strings.TrimRight(fs.Label(), "\x00 "), nil
}
