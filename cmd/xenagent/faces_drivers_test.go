package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/api/gandiv1"
)

// faceDriver is one face as the suite drives it: each call is the face's
// own request over HTTP, waits for the operations the face hands back to
// end, and answers the face's fault (or an ended-in-error operation) as
// the error. Anything wrong with the exchange itself fails the test.
type faceDriver interface {
	Name() string
	// Create makes a VM of memMB from the rig's image (with its system
	// disk and an interface) and answers its id.
	Create(hostname string, memMB int64) (int64, error)
	// Power is "stop", "start" or "reboot".
	Power(vmID int64, action string) error
	SetMemory(vmID, memMB int64) error
	SetCores(vmID, cores int64) error
	// AttachDisk creates an empty disk of sizeMB and attaches it to the VM;
	// errNotOnFace when the face's document has no such call.
	AttachDisk(vmID int64, name string, sizeMB int64) (int64, error)
	Delete(vmID int64) error
	// OpState is an operation's state as the face shows it (each says
	// DONE for a finished one).
	OpState(opID int64) string
	// List is the VMs the face lists: id to hostname.
	List() map[int64]string
	// Field is the face's name for a field of the service ("memory" is
	// v1's specs.shares, "cores" Gigas's cpus), as its faults name it.
	Field(name string) string
}

var errNotOnFace = errors.New("the face has no such call")

// ---- Gandi v3 (/xmlrpc/): the API key first, operations as structs.

type v3Driver struct{ r *faceRig }

func (d v3Driver) Name() string             { return "gandi-v3" }
func (d v3Driver) Field(name string) string { return name }

func (d v3Driver) call(method string, params ...any) (any, error) {
	return d.r.xmlCall("/xmlrpc/", method, append([]any{faceKey}, params...)...)
}

// done waits for each operation (a struct or a list of them) through
// operation.info; it answers the last one's info.
func (d v3Driver) done(v any) (map[string]any, error) {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var last map[string]any
	for _, o := range list {
		id := o.(map[string]any)["id"].(int64)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			info, err := d.call("operation.info", id)
			if err != nil {
				return nil, err
			}
			last = info.(map[string]any)
			if s := last["step"]; s == "DONE" {
				break
			} else if s == "ERROR" || s == "CANCEL" {
				return nil, fmt.Errorf("operation %d (%v) ended %v: %v", id, last["type"], s, last["last_error"])
			}
			if time.Now().After(deadline) {
				d.r.t.Fatalf("operation %d still %v", id, last["step"])
			}
		}
	}
	return last, nil
}

func (d v3Driver) Create(hostname string, memMB int64) (int64, error) {
	v, err := d.call("hosting.vm.create_from",
		map[string]any{"datacenter_id": int64(1), "hostname": hostname, "memory": memMB, "password": "password_to_change"},
		map[string]any{"name": "sys-" + hostname}, d.r.image.DiskID)
	if err != nil {
		return 0, err
	}
	if _, err := d.done(v); err != nil {
		return 0, err
	}
	for _, o := range v.([]any) {
		if id, ok := o.(map[string]any)["vm_id"].(int64); ok {
			return id, nil
		}
	}
	d.r.t.Fatalf("hosting.vm.create_from: no vm_id in %v", v)
	return 0, nil
}

func (d v3Driver) Power(vmID int64, action string) error {
	v, err := d.call("hosting.vm."+action, vmID)
	if err != nil {
		return err
	}
	_, err = d.done(v)
	return err
}

func (d v3Driver) SetMemory(vmID, memMB int64) error {
	v, err := d.call("hosting.vm.update", vmID, map[string]any{"memory": memMB})
	if err != nil {
		return err
	}
	_, err = d.done(v)
	return err
}

func (d v3Driver) SetCores(vmID, cores int64) error {
	v, err := d.call("hosting.vm.update", vmID, map[string]any{"cores": cores})
	if err != nil {
		return err
	}
	_, err = d.done(v)
	return err
}

func (d v3Driver) AttachDisk(vmID int64, name string, sizeMB int64) (int64, error) {
	v, err := d.call("hosting.disk.create", map[string]any{"datacenter_id": int64(1), "size": sizeMB, "name": name})
	if err != nil {
		return 0, err
	}
	if _, err := d.done(v); err != nil {
		return 0, err
	}
	diskID := v.(map[string]any)["disk_id"].(int64)
	if v, err = d.call("hosting.vm.disk_attach", vmID, diskID); err != nil {
		return 0, err
	}
	_, err = d.done(v)
	return diskID, err
}

func (d v3Driver) Delete(vmID int64) error {
	v, err := d.call("hosting.vm.delete", vmID)
	if err != nil {
		return err
	}
	_, err = d.done(v)
	return err
}

func (d v3Driver) OpState(opID int64) string {
	v, err := d.call("operation.info", opID)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(v.(map[string]any)["step"])
}

func (d v3Driver) List() map[int64]string {
	v, err := d.call("hosting.vm.list")
	if err != nil {
		d.r.t.Fatalf("hosting.vm.list: %v", err)
	}
	out := map[int64]string{}
	for _, vm := range v.([]any) {
		m := vm.(map[string]any)
		out[m["id"].(int64)] = m["hostname"].(string)
	}
	return out
}

// ---- Gandi v1 (/xmlrpc/v1/): a login's session first, bare ids back.

type v1Driver struct {
	r       *faceRig
	session string
}

func newV1Driver(r *faceRig) *v1Driver {
	s, err := r.xmlCall(gandiv1.Path, "login", faceHandle, facePassword, true)
	if err != nil {
		r.t.Fatalf("login: %v", err)
	}
	return &v1Driver{r: r, session: s.(string)}
}

func (d *v1Driver) Name() string { return "gandi-v1" }

// v1Fields: vm_update's and disk_create's specs (memory is shares x 256 MB).
var v1Fields = map[string]string{"memory": "specs.shares", "cores": "specs.cpu", "size": "specs.size"}

func (d *v1Driver) Field(name string) string {
	if to, ok := v1Fields[name]; ok {
		return to
	}
	return name
}

func (d *v1Driver) call(method string, params ...any) (any, error) {
	return d.r.xmlCall(gandiv1.Path, method, append([]any{d.session}, params...)...)
}

// done waits for the operation through operation_details.
func (d *v1Driver) done(opID int64) error {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		v, err := d.call("operation_details", opID)
		if err != nil {
			return err
		}
		det := v.(map[string]any)
		switch det["state"] {
		case "DONE":
			return nil
		case "ERROR", "CANCEL":
			return fmt.Errorf("operation %d (%v) ended %v: %v", opID, det["type"], det["state"], det["comment"])
		}
		if time.Now().After(deadline) {
			d.r.t.Fatalf("operation %d still %v", opID, det["state"])
		}
	}
}

// lastOp is the newest operation of a type: calls that answer a VM's or
// a disk's id leave their operation to operation_list.
func (d *v1Driver) lastOp(typ string) int64 {
	v, err := d.call("operation_list", map[string]any{"type": typ})
	if err != nil || len(v.([]any)) == 0 {
		d.r.t.Fatalf("operation_list %s: %v %v", typ, v, err)
	}
	return v.([]any)[0].(int64)
}

func (d *v1Driver) Create(hostname string, memMB int64) (int64, error) {
	v, err := d.call("vm_create", hostname, "my_password", d.r.image.ID, memMB/d.r.svc.ShareDefinition().MemoryMB, int64(1), map[string]any{"login": "gandi"})
	if err != nil {
		return 0, err
	}
	return v.(int64), d.done(d.lastOp("vm_create"))
}

func (d *v1Driver) opCall(method string, params ...any) error {
	v, err := d.call(method, params...)
	if err != nil {
		return err
	}
	return d.done(v.(int64))
}

func (d *v1Driver) Power(vmID int64, action string) error { return d.opCall("vm_"+action, vmID) }

func (d *v1Driver) SetMemory(vmID, memMB int64) error {
	return d.opCall("vm_update", vmID, map[string]any{"shares": memMB / d.r.svc.ShareDefinition().MemoryMB})
}

func (d *v1Driver) SetCores(vmID, cores int64) error {
	return d.opCall("vm_update", vmID, map[string]any{"cpu": cores})
}

func (d *v1Driver) AttachDisk(vmID int64, name string, sizeMB int64) (int64, error) {
	v, err := d.call("disk_create", map[string]any{"size": sizeMB, "name": name})
	if err != nil {
		return 0, err
	}
	if err := d.done(d.lastOp("disk_create")); err != nil {
		return 0, err
	}
	diskID := v.(int64)
	return diskID, d.opCall("disk_attach", diskID, vmID)
}

func (d *v1Driver) Delete(vmID int64) error { return d.opCall("vm_delete", vmID) }

func (d *v1Driver) OpState(opID int64) string {
	v, err := d.call("operation_details", opID)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(v.(map[string]any)["state"])
}

func (d *v1Driver) List() map[int64]string {
	v, err := d.call("vm_list")
	if err != nil {
		d.r.t.Fatalf("vm_list: %v", err)
	}
	out := map[int64]string{}
	for _, id := range v.([]any) {
		info, err := d.call("vm_info", id)
		if err != nil {
			d.r.t.Fatalf("vm_info %v: %v", id, err)
		}
		out[id.(int64)] = info.(map[string]any)["hostname"].(string)
	}
	return out
}

// ---- Gigas REST: the key in Authorization, JSON, 202 with operations.

type gigasDriver struct{ r *faceRig }

func (d gigasDriver) Name() string { return "gigas" }
func (d gigasDriver) Field(name string) string {
	if name == "cores" {
		return "cpus"
	}
	return name
}

// gigasError is the face's JSON error, with the HTTP status it came with.
type gigasError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *gigasError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func (d gigasDriver) do(method, path string, body any) (any, error) {
	d.r.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, d.r.url+path, rd)
	req.Header.Set("Authorization", faceKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		e := &gigasError{Status: resp.StatusCode}
		if err := json.Unmarshal(raw, e); err != nil {
			d.r.t.Fatalf("%s %s: %d: not a JSON error: %q", method, path, resp.StatusCode, raw)
		}
		return nil, e
	}
	var out any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			d.r.t.Fatalf("%s %s: %d: not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return out, nil
}

func (d gigasDriver) vmPath(id int64) string {
	return fmt.Sprintf("/account/%d/virtual_machine/%d", d.r.acct, id)
}

// accepted sends a request that answers 202 and waits for its
// operations by polling their hrefs.
func (d gigasDriver) accepted(method, path string, body any) (map[string]any, error) {
	v, err := d.do(method, path, body)
	if err != nil {
		return nil, err
	}
	obj := v.(map[string]any)
	for _, o := range obj["operations"].([]any) {
		href := fmt.Sprintf("/account/%d/operation/%s", d.r.acct, o.(map[string]any)["id"])
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			v, err := d.do("GET", href, nil)
			if err != nil {
				return nil, err
			}
			op := v.(map[string]any)
			if s := op["status"]; s == "DONE" {
				break
			} else if s == "ERROR" || s == "CANCEL" {
				return nil, fmt.Errorf("operation %v (%v) ended %v: %v", op["id"], op["type"], s, op["error"])
			}
			if time.Now().After(deadline) {
				d.r.t.Fatalf("operation %v still %v", op["id"], op["status"])
			}
		}
	}
	return obj, nil
}

func (d gigasDriver) Create(hostname string, memMB int64) (int64, error) {
	obj, err := d.accepted("POST", fmt.Sprintf("/account/%d/virtual_machine", d.r.acct), map[string]any{
		"memory": strconv.FormatInt(memMB, 10), "cpus": "1", "label": hostname, "primary_disk_size": "1", "hostname": hostname,
		"template_id": strconv.FormatInt(d.r.image.ID, 10)})
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(fmt.Sprint(obj["id"]), 10, 64)
}

func (d gigasDriver) Power(vmID int64, action string) error {
	var err error
	switch action {
	case "stop":
		_, err = d.accepted("PUT", d.vmPath(vmID), map[string]any{"status": "offline"})
	case "start":
		_, err = d.accepted("PUT", d.vmPath(vmID), map[string]any{"status": "online"})
	case "reboot":
		_, err = d.accepted("POST", d.vmPath(vmID)+"/reboot", nil)
	}
	return err
}

func (d gigasDriver) SetMemory(vmID, memMB int64) error {
	_, err := d.accepted("PUT", d.vmPath(vmID), map[string]any{"memory": strconv.FormatInt(memMB, 10)})
	return err
}

func (d gigasDriver) SetCores(vmID, cores int64) error {
	_, err := d.accepted("PUT", d.vmPath(vmID), map[string]any{"cpus": strconv.FormatInt(cores, 10)})
	return err
}

// AttachDisk: the document makes secondary disks at create only; its
// apply_disks is a central tier's (501 here).
func (d gigasDriver) AttachDisk(int64, string, int64) (int64, error) { return 0, errNotOnFace }

func (d gigasDriver) Delete(vmID int64) error {
	_, err := d.accepted("DELETE", d.vmPath(vmID), nil)
	return err
}

func (d gigasDriver) OpState(opID int64) string {
	v, err := d.do("GET", fmt.Sprintf("/account/%d/operation/%d", d.r.acct, opID), nil)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(v.(map[string]any)["status"])
}

func (d gigasDriver) List() map[int64]string {
	v, err := d.do("GET", fmt.Sprintf("/account/%d/virtual_machines", d.r.acct), nil)
	if err != nil {
		d.r.t.Fatalf("virtual_machines: %v", err)
	}
	list, ok := v.([]any)
	if !ok { // a paged answer keeps its list under a key
		d.r.t.Fatalf("virtual_machines: not a list: %v", v)
	}
	out := map[int64]string{}
	for _, vm := range list {
		m := vm.(map[string]any)
		id, _ := strconv.ParseInt(fmt.Sprint(m["id"]), 10, 64)
		out[id], _ = m["hostname"].(string)
	}
	return out
}

// faceDrivers is the three faces over one rig, the v1 one logged in.
func faceDrivers(r *faceRig) []faceDriver {
	return []faceDriver{v3Driver{r}, newV1Driver(r), gigasDriver{r}}
}
