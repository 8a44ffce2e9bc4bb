package gigas

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/xenagent/xenagent/agent/service"
	"github.com/xenagent/xenagent/agent/store"
)

// consoleWait bounds how long remoteConsole waits for the console's
// activation (a vm_update that only sets a flag: quick).
const consoleWait = 20 * time.Second

// remoteConsole mints a single-use link to the VM's console (the
// agent's /console/ page), valid until expires_at. The document has no
// step that activates a console: asking for its link is the account's
// consent, so a running VM's console that is not active is activated
// here (a vm_update, waited for) before the link is minted. The console
// extension of the edit ({"console": false}) turns it off again and
// revokes the links handed out.
func (s *Server) remoteConsole(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k); err != nil {
		return 0, nil, err
	}
	info, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	id := info.ID
	if status, _ := statusOf(info.PowerState); status != "online" {
		return 0, nil, &apiError{Status: http.StatusConflict, Code: CodeConflict,
			Msg: fmt.Sprintf("virtual_machine_id: virtual machine %d is %s: a console needs it online", id, status)}
	}
	if info.Console != 1 {
		on := true
		op, err := s.svc.UpdateVM(ctx, k.c, id, service.VMUpdate{Console: &on})
		if err != nil {
			return 0, nil, svcErr(err, vmRename)
		}
		if err := s.awaitOp(ctx, k, op, consoleWait); err != nil {
			return 0, nil, err
		}
	}
	l, err := s.svc.ConsoleLink(k.c, id)
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return http.StatusOK, map[string]any{"virtual_machine_id": strconv.FormatInt(id, 10), "type": "web", "url": l.URL,
		"expires_at": date(l.Expires)}, nil
}

// awaitOp polls op until it ends, for a call that answers only once its
// work is done: DONE is nil, ERROR or CANCEL a 409 naming the operation,
// and past wait a 504 naming it (the client may poll it and ask again).
func (s *Server) awaitOp(ctx context.Context, k *call, op service.Operation, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		o, err := s.svc.Operation(k.c, op.ID)
		if err != nil {
			return svcErr(err, nil)
		}
		switch o.Step {
		case store.StepDone:
			return nil
		case store.StepError, store.StepCancel:
			return &apiError{Status: http.StatusConflict, Code: CodeConflict,
				Msg: fmt.Sprintf("operation_id: operation %d (%s) ended %s: %s", o.ID, o.Type, o.Step, o.LastError)}
		}
		select {
		case <-ctx.Done():
			return &apiError{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
				Msg: fmt.Sprintf("operation_id: operation %d (%s) is still %s; poll %s and ask again", o.ID, o.Type, o.Step, opHref(k.account, o.ID))}
		case <-tick.C:
		}
	}
}

// cloneVM makes a VM on this host whose system disk is a copy of the
// source's: hostname and label mandatory, memory and cpus the source's
// unless given.
func (s *Server) cloneVM(ctx context.Context, k *call) (int, any, error) {
	src, err := s.vmInfo(k)
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	b.ignore("max_memory")
	if err := refuseCentral(b, "data_store_group_secondary_id", "clone_disk_data_store_group_id"); err != nil {
		return 0, nil, err
	}
	if err := notHere(b, "cpu_type", "the host's CPU is what the guest sees; it cannot be chosen"); err != nil {
		return 0, nil, err
	}
	if err := notHere(b, "clone_user_id", "not yet: a clone belongs to the source's account (TODO in doc.go)"); err != nil {
		return 0, nil, err
	}
	for _, f := range []string{"secondary_disk_size", "clone_disk_id", "clone_disk_size"} {
		if err := notHere(b, f, "not yet: a clone copies the system disk only (TODO in doc.go)"); err != nil {
			return 0, nil, err
		}
	}
	// The document's default is false: the clone is built, then stopped.
	start, err := b.bool("required_startup")
	if err != nil {
		return 0, nil, err
	}
	if len(src.Disks) == 0 {
		return 0, nil, &apiError{Status: http.StatusConflict, Code: CodeConflict, Msg: "virtual_machine_id: the source has no system disk to copy"}
	}
	req := service.VMCreateFrom{SrcDiskID: src.Disks[0].ID, Halted: start == nil || !*start, Options: k.opts(0)}
	req.DatacenterID = src.DatacenterID
	host, err := b.str("hostname")
	if err != nil {
		return 0, nil, err
	}
	if host == nil {
		return 0, nil, missing("hostname")
	}
	if err := service.GigasHostname(*host); err != nil {
		return 0, nil, svcErr(err, nil)
	}
	req.Hostname = *host
	if req.Label, err = b.str("label"); err != nil {
		return 0, nil, err
	}
	if req.Label == nil {
		return 0, nil, missing("label")
	}
	mem, cores := src.Memory, src.Cores
	req.Memory, req.Cores = &mem, &cores
	for _, f := range []struct {
		key string
		dst **int64
	}{{"memory", &req.Memory}, {"cpus", &req.Cores}} {
		n, err := b.int(f.key)
		if err != nil {
			return 0, nil, err
		}
		if n != nil {
			*f.dst = n
		}
	}
	if src.CPUShares != 0 {
		req.CPUShares = &src.CPUShares
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	ops, err := s.svc.CreateVMFrom(ctx, k.c, req)
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return s.created(k, ops, "") // the source's passwords: none new
}

// snapshots lists the snapshots of the VM's disks.
func (s *Server) snapshots(k *call) (service.VMInfo, []service.Disk, error) {
	info, err := s.vmInfo(k)
	if err != nil {
		return info, nil, err
	}
	out := []service.Disk{}
	if len(info.DiskIDs) == 0 {
		return info, out, nil
	}
	list, err := s.svc.Disks(k.c, service.DiskFilter{Sources: info.DiskIDs}, service.Page{PerPage: 500})
	if err != nil {
		return info, nil, svcErr(err, nil)
	}
	for _, d := range list {
		if d.Type == store.DiskTypeSnapshot || d.Type == store.DiskTypeSnapshotAuto {
			out = append(out, d)
		}
	}
	return info, out, nil
}

func (s *Server) listSnapshots(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k); err != nil {
		return 0, nil, err
	}
	info, list, err := s.snapshots(k)
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for _, d := range list {
		out = append(out, map[string]any{"id": strconv.FormatInt(d.ID, 10), "virtual_machine_id": strconv.FormatInt(info.ID, 10),
			"disk_id": strconv.FormatInt(d.Source, 10), "label": d.Name, "size": gb(d.SizeMB),
			"automatic": d.Type == store.DiskTypeSnapshotAuto, "status": d.State, "created_at": date(d.DateCreated)})
	}
	return http.StatusOK, out, nil
}

// deleteSnapshots deletes every snapshot of the VM's disks. The document
// answers 200; here the deletions are operations, so 202 with them (a
// snapshot here is a copy: nothing is merged back into the disks).
func (s *Server) deleteSnapshots(ctx context.Context, k *call) (int, any, error) {
	_, list, err := s.snapshots(k)
	if err != nil {
		return 0, nil, err
	}
	k.plan(len(list))
	ops := []service.Operation{}
	for _, d := range list {
		op, err := s.svc.DeleteDisk(ctx, k.c, d.ID, k.opts(len(ops)))
		if err != nil {
			e := asError(err, nil)
			if len(ops) > 0 {
				e.Msg += " (accepted before it: " + done(ops) + ")"
			}
			return 0, nil, e
		}
		ops = append(ops, op)
	}
	return accepted(k, ops, nil)
}

// periods map the document's stats periods onto the service's windows.
// bw_stats' -1Y gets the longest window the collector keeps, the last
// month (hourly): a year's graph then shows what exists, and date_from
// says where it begins, rather than the 400 a panel asking -1Y breaks on.
var (
	cpuPeriods = map[string]string{"-1H": "1h", "-30days": "1m", "-1day": "1d"}
	bwPeriods  = map[string]string{"-1H": "1h", "-1day": "1d", "-1M": "1m", "-1Y": "1m"}
)

func statsWindow(k *call, periods map[string]string, doc string) (string, error) {
	if err := noQuery(k, "period"); err != nil {
		return "", err
	}
	p := k.r.URL.Query().Get("period")
	if p == "" {
		// The accepted values go with the refusal: they differ between
		// cpu_stats and bw_stats, and a client has no other way to learn them.
		e := missing("period")
		e.Msg += " (one of " + doc + ")"
		return "", e
	}
	w, ok := periods[p]
	if !ok {
		return "", invalid("period", fmt.Sprintf("must be one of %s, got %q", doc, p))
	}
	return w, nil
}

func unitsOf(step time.Duration) string {
	switch {
	case step%(24*time.Hour) == 0:
		return plural(int64(step/(24*time.Hour)), "day")
	case step%time.Hour == 0:
		return plural(int64(step/time.Hour), "hour")
	case step%time.Minute == 0:
		return plural(int64(step/time.Minute), "minute")
	}
	return plural(int64(step/time.Second), "second")
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

var lapses = map[string]string{"1h": "last hour", "1d": "last day", "1m": "last 30 days"}

// cpuStats is the document's CPU usage resource: data are the VM's CPU
// use in percent of its vCPUs, one value per time unit, null where
// nothing was measured.
func (s *Server) cpuStats(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	w, err := statsWindow(k, cpuPeriods, "-1H, -1day, -30days")
	if err != nil {
		return 0, nil, err
	}
	st, err := s.svc.VMStats(k.c, id, service.StatsRequest{Window: w, Targets: []string{"cpu"}})
	if err != nil {
		return 0, nil, svcErr(err, map[string]string{"window": "period"})
	}
	data := []any{}
	if st.CPU != nil {
		vcpus := float64(max(st.CPU.VCPUs, 1))
		for _, u := range st.CPU.Used {
			data = append(data, num(u/vcpus*100))
		}
	}
	return http.StatusOK, map[string]any{"lapse": lapses[w], "machine_id": id, "data": data, "time_units": unitsOf(st.Step)}, nil
}

// bwStats is the document's network usage resource: per interface, the
// bytes in and out of the VM in each time unit ("0", "1", ... in time
// order); traffic is empty when nothing was measured. date_from and
// date_to are the span answered: for -1Y, the last month (bwPeriods).
func (s *Server) bwStats(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	w, err := statsWindow(k, bwPeriods, "-1H, -1day, -1M, -1Y")
	if err != nil {
		return 0, nil, err
	}
	st, err := s.svc.VMStats(k.c, id, service.StatsRequest{Window: w, Targets: []string{"iface"}})
	if err != nil {
		return 0, nil, svcErr(err, map[string]string{"window": "period"})
	}
	sec := st.Step.Seconds()
	traffic := []any{}
	for _, i := range st.Ifaces {
		data := map[string]any{}
		for n := range i.RxBytes {
			in, out := i.RxBytes[n]*sec, i.TxBytes[n]*sec
			if math.IsNaN(in) && math.IsNaN(out) {
				continue
			}
			data[strconv.Itoa(n)] = map[string]any{"traffic_in": num(in), "traffic_out": num(out)}
		}
		traffic = append(traffic, []any{map[string]any{"network_id": hostNetworkNum, "is_public": true, "interface_id": i.IfaceID, "data": data}})
	}
	end := st.Start.Add(time.Duration(st.Points) * st.Step)
	return http.StatusOK, map[string]any{"date_from": st.Start.Unix(), "date_to": end.Unix(), "traffic": traffic}, nil
}

// hostNetworkNum is HostNetworkID as bw_stats' example shows ids, numbers.
const hostNetworkNum = 1

var lockTypes = map[string]string{store.LockAdmin: "Admin", store.LockTask: "Task", store.LockSnapshot: "Snapshot"}

func lockResource(l service.Lock) map[string]any {
	return map[string]any{"id": strconv.FormatInt(l.ID, 10), "virtual_machine_id": strconv.FormatInt(l.VMID, 10),
		"lock_type": lockTypes[l.Type], "description": l.Description, "hypervisor_id": nil,
		"created_at": date(l.DateCreated), "updated_at": date(l.DateUpdated)}
}

func (s *Server) listLocks(ctx context.Context, k *call) (int, any, error) {
	if err := noQuery(k); err != nil {
		return 0, nil, err
	}
	id, err := k.id("virtual_machine_id")
	if err != nil {
		return 0, nil, err
	}
	locks, err := s.svc.VMLocks(k.c, id)
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	out := make([]map[string]any, len(locks))
	for i, l := range locks {
		out[i] = lockResource(l)
	}
	return http.StatusOK, out, nil
}

// lockVM places the operator's Admin lock (operator key only; an
// extension: the document lists locks but names no call to place one).
func (s *Server) lockVM(ctx context.Context, k *call) (int, any, error) {
	id, err := s.operatorVM(k)
	if err != nil {
		return 0, nil, err
	}
	b, err := k.body()
	if err != nil {
		return 0, nil, err
	}
	desc, err := b.str("description")
	if err != nil {
		return 0, nil, err
	}
	if err := b.done(); err != nil {
		return 0, nil, err
	}
	if desc == nil {
		return 0, nil, missing("description")
	}
	l, err := s.svc.LockVM(ctx, k.op, id, *desc)
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return http.StatusOK, lockResource(l), nil
}

func (s *Server) unlockVM(ctx context.Context, k *call) (int, any, error) {
	id, err := s.operatorVM(k)
	if err != nil {
		return 0, nil, err
	}
	l, err := s.svc.UnlockVM(ctx, k.op, id)
	if err != nil {
		return 0, nil, svcErr(err, vmRename)
	}
	return http.StatusOK, lockResource(l), nil
}

// operatorVM checks an operator-only call: the operator's key, and a VM
// of the path's account (the operator's caller sees every account's).
func (s *Server) operatorVM(k *call) (int64, error) {
	if !k.op.Operator {
		return 0, forbidden("Authorization", "placing and lifting locks takes the operator's key")
	}
	info, err := s.vmInfo(k)
	return info.ID, err
}

func (s *Server) getOperation(ctx context.Context, k *call) (int, any, error) {
	id, err := k.id("operation_id")
	if err != nil {
		return 0, nil, err
	}
	o, err := s.svc.Operation(k.c, id)
	if err != nil {
		return 0, nil, svcErr(err, map[string]string{"": "operation_id"})
	}
	return http.StatusOK, opResource(k.account, o), nil
}
