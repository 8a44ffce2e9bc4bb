package gigas

import (
	"math"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// timeFormat is the document's date shape, "2018-05-29T08:20:49" (UTC).
const timeFormat = "2006-01-02T15:04:05"

func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

func idStr(n int64) any {
	if n == 0 {
		return nil
	}
	return strconv.FormatInt(n, 10)
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// statusOf maps the service's states onto the document's model: unbuilt
// while being created, online when it runs (paused too, then suspended),
// offline when halted.
func statusOf(state string) (status string, suspended bool) {
	switch state {
	case store.VMBeingCreated:
		return "unbuilt", false
	case store.VMRunning:
		return "online", false
	case store.VMPaused:
		return "online", true
	case store.VMDeleted:
		return "deleted", false
	}
	return "offline", false
}

// vmView is what the face renders of a VM.
type vmView struct {
	vm       service.VM
	account  int64
	locked   bool
	template *service.Image // the image its system disk was copied from
	password string         // only in the answer to its creation
}

// vmResource is the document's Virtual Machine: ids as strings and dates
// as in its example; fields this host cannot know (a central tier's, as
// strict_virtual_machine_id) are null.
func vmResource(v vmView) map[string]any {
	status, suspended := statusOf(v.vm.PowerState)
	out := map[string]any{
		"id":                        strconv.FormatInt(v.vm.ID, 10),
		"identifier":                strconv.FormatInt(v.vm.ID, 10),
		"account_id":                v.account,
		"user_id":                   nil,
		"label":                     v.vm.Label,
		"hostname":                  v.vm.Hostname,
		"note":                      nullIfEmpty(v.vm.Note),
		"memory":                    v.vm.Memory,
		"cpus":                      v.vm.Cores,
		"cpu_shares":                v.vm.CPUShares,
		"cpu_type":                  nil,
		"type":                      "standard",
		"vip":                       false,
		"status":                    status,
		"locked":                    flag(v.locked),
		"suspended":                 flag(suspended),
		"error":                     0,
		"strict_virtual_machine_id": nil,
		"template_id":               nil,
		"template_label":            nil,
		"operating_system":          nil,
		"operating_system_distro":   nil,
		"initial_password":          nullIfEmpty(v.password),
		"hypervisor_id":             nil,
		"location_id":               strconv.FormatInt(v.vm.DatacenterID, 10),
		"cdrom":                     flag(v.vm.ISOID != 0),
		"boot_type":                 v.vm.BootType,
		"booted_from":               map[bool]string{true: "cdrom", false: "hd"}[v.vm.BootType == service.BootCDROM],
		"disk_type":                 "vd",
		"created_at":                date(v.vm.DateCreated),
		"updated_at":                date(v.vm.DateUpdated),
	}
	if v.template != nil {
		out["template_id"] = strconv.FormatInt(v.template.ID, 10)
		out["template_label"] = v.template.Label
		out["operating_system"] = v.template.Label
	}
	return out
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// opResource is an operation as the poll endpoint shows it.
func opResource(account int64, o service.Operation) map[string]any {
	return map[string]any{
		"id":                 strconv.FormatInt(o.ID, 10),
		"type":               o.Type,
		"status":             o.Step,
		"virtual_machine_id": idStr(o.VMID),
		"disk_id":            idStr(o.DiskID),
		"interface_id":       idStr(o.IfaceID),
		"ip_address_id":      idStr(o.IPID),
		"error":              nullIfEmpty(o.LastError),
		"eta":                o.ETA,
		"created_at":         date(o.DateCreated),
		"started_at":         date(o.DateStart),
		"updated_at":         date(o.DateUpdated),
		"href":               opHref(account, o.ID),
	}
}

func opHref(account, id int64) string {
	return "/account/" + strconv.FormatInt(account, 10) + "/operation/" + strconv.FormatInt(id, 10)
}

// accepted is the body of a 202: the operations to poll (their hrefs
// the poll endpoint), and queue_token, the document's name for the last
// of them (what the work is done with).
func accepted(k *call, ops []service.Operation, extra map[string]any) (int, any, error) {
	out := map[string]any{}
	for key, v := range extra {
		out[key] = v
	}
	list := make([]map[string]any, len(ops))
	for i, o := range ops {
		list[i] = opResource(k.account, o)
	}
	out["operations"] = list
	out["queue_token"] = nil
	if len(ops) > 0 {
		last := ops[len(ops)-1]
		out["queue_token"] = strconv.FormatInt(last.ID, 10)
		k.w.Header().Set("Location", opHref(k.account, last.ID))
	}
	return 202, out, nil
}

// num is a float for JSON: NaN (nothing measured) is null.
func num(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}
