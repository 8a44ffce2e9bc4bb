package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
	bolt "go.etcd.io/bbolt"
)

// dump is what a state file holds, as agent/store reads it: the records
// in id order, in their stored JSON form (the store's types carry the
// file's field names).
type dump struct {
	SourceCommit string                     `json:"source_commit,omitempty"`
	Schema       int64                      `json:"schema"`
	Instance     string                     `json:"instance"`
	Seq          map[string]int64           `json:"seq"`
	Accounts     []store.Account            `json:"accounts"`
	SSHKeys      []store.SSHKey             `json:"sshkeys"`
	Images       []store.Image              `json:"images"`
	VMs          []store.VM                 `json:"vms"`
	Disks        []store.Disk               `json:"disks"`
	Ifaces       []store.Iface              `json:"ifaces"`
	IPs          []store.IP                 `json:"ips"`
	Operations   []store.Operation          `json:"operations"`
	Idempotency  map[string]store.IdemEntry `json:"idempotency"`
	Released     map[string][]string        `json:"released"`
}

// readDump reads a state file through agent/store, on a copy: opening
// writes (the schema key), and the fixture must stay as the agent left it.
// The meta keys the store has no reader for (schema, id sequences) are
// read from the copy with bbolt, read-only, first.
func readDump(path string) (dump, error) {
	var d dump
	tmp, err := os.MkdirTemp("", "makev1-dump-")
	if err != nil {
		return d, err
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, "state.db")
	if err := copyFile(path, cp); err != nil {
		return d, err
	}
	if err := readMeta(cp, &d); err != nil {
		return d, err
	}
	st, err := store.Open(cp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return d, err
	}
	defer st.Close()
	d.Instance = st.Instance()
	d.Idempotency, d.Released = map[string]store.IdemEntry{}, map[string][]string{}
	st.View(func(tx *store.Tx) {
		tx.EachAccount(func(x *store.Account) bool { d.Accounts = append(d.Accounts, *x); return true })
		tx.EachSSHKey(func(x *store.SSHKey) bool { d.SSHKeys = append(d.SSHKeys, *x); return true })
		tx.EachImage(func(x *store.Image) bool { d.Images = append(d.Images, *x); return true })
		tx.EachVM(func(x *store.VM) bool { v, _ := tx.VM(x.ID); d.VMs = append(d.VMs, v); return true })
		tx.EachDisk(func(x *store.Disk) bool { d.Disks = append(d.Disks, *x); return true })
		tx.EachIface(func(x *store.Iface) bool { i, _ := tx.Iface(x.ID); d.Ifaces = append(d.Ifaces, i); return true })
		tx.EachIP(func(x *store.IP) bool { d.IPs = append(d.IPs, *x); return true })
		tx.EachOperation(func(x *store.Operation) bool {
			o, _ := tx.Operation(x.ID)
			d.Operations = append(d.Operations, o)
			return true
		})
		tx.EachIdem(func(k string, e store.IdemEntry) bool { d.Idempotency[k] = e; return true })
		tx.EachReleased(func(k string, addrs []string) { d.Released[k] = append([]string(nil), addrs...) })
	})
	return d, nil
}

func readMeta(path string, d *dump) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	d.Seq = map[string]int64{}
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if meta == nil {
			return fmt.Errorf("%s has no meta bucket", path)
		}
		return meta.ForEach(func(k, v []byte) error {
			switch key := string(k); {
			case key == "schema":
				d.Schema = int64(binary.BigEndian.Uint64(v))
			case strings.HasPrefix(key, "seq/"):
				d.Seq[strings.TrimPrefix(key, "seq/")] = int64(binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
}

func copyFile(src, dst string) error {
	raw, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, raw, 0o600)
}

// summary describes the operations left in flight, for the README and
// the report.
func summary(d dump) string {
	var b strings.Builder
	for _, o := range d.Operations {
		if o.Finished() {
			continue
		}
		fmt.Fprintf(&b, "op %d %s (vm %d, disk %d): step %s cursor %d in_step %v after %v\n    params %v\n    data %v\n    secrets %v\n",
			o.ID, o.Type, o.VMID, o.DiskID, o.Step, o.Cursor, o.InStep, o.After, o.Params, o.Data, keysOf(o.Secrets))
	}
	return b.String()
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
