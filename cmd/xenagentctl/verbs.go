package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

func init() {
	register(vmVerb)
	register(diskVerb)
	register(opVerb)
	register(hostVerb)
	register(callVerb)
	register(versionVerb)
}

// listing is how a noun's list verb calls its API and prints its table.
type listing struct {
	method string
	cols   []string
	// newest first (operations), else by id.
	newest bool
	// filters are the noun's filter flags: flag name, API key, whether
	// it is an id (an integer) and its help.
	filters []filter
}

type filter struct {
	flag, key string
	// parse reads the flag's value (an id, a boolean, a day); nil keeps
	// it a string.
	parse func(string) (any, error)
}

func idArg(s string) (any, error) { return oneID([]string{s}) }

// boolArg is true or false, spelled out: a filter's 1 or t would be a
// guess at what was meant.
func boolArg(s string) (any, error) {
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return nil, fmt.Errorf("%q: must be true or false", s)
}

// dayArg is a UTC day, 2026-12-03, sent as the agent takes it.
func dayArg(s string) (any, error) {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return nil, fmt.Errorf("%q: must be a day, YYYY-MM-DD", s)
	}
	return s, nil
}

// list runs "NOUN list [--page N] [--limit N] [filters]".
func (l listing) list(ctx context.Context, e *env, name string, args []string) error {
	fs := e.flagSet(name + " list")
	page := fs.Int64("page", 1, "page, from 1")
	limit := fs.Int64("limit", 100, "rows a page (1 to 500)")
	vals := make([]*string, len(l.filters))
	for i, f := range l.filters {
		vals[i] = fs.String(f.flag, "", f.key)
	}
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return &usageError{fmt.Sprintf("%s list: unexpected %q (filters are flags: xenagentctl help %s)", name, words[0], name)}
	}
	if *page < 1 {
		return &usageError{fmt.Sprintf("%s list: --page %d: pages count from 1", name, *page)}
	}
	if *limit < 1 || *limit > 500 {
		return &usageError{fmt.Sprintf("%s list: --limit %d: must be between 1 and 500", name, *limit)}
	}
	sortBy := "id"
	if l.newest {
		sortBy = "-id"
	}
	opts := map[string]any{"items_per_page": *limit, "page": *page - 1, "sort_by": sortBy}
	for i, f := range l.filters {
		if *vals[i] == "" {
			continue
		}
		if f.parse == nil {
			opts[f.key] = *vals[i]
			continue
		}
		v, err := f.parse(*vals[i])
		if err != nil {
			return &usageError{fmt.Sprintf("%s list: --%s: %v", name, f.flag, err)}
		}
		opts[f.key] = v
	}
	v, err := e.c.call(ctx, l.method, opts)
	if err != nil {
		return err
	}
	rows, _ := v.([]any)
	sortByID(rows, l.newest)
	if e.json {
		if rows == nil {
			rows = []any{}
		}
		return printJSON(e.out, rows)
	}
	return table(e.out, rows, l.cols)
}

// dispatch runs the subcommand args[0] of name from subs.
func dispatch(ctx context.Context, e *env, name string, args []string, subs map[string]func(ctx context.Context, e *env, args []string) error, order []string) error {
	if len(args) == 0 {
		return &usageError{fmt.Sprintf("%s: a subcommand is required (xenagentctl help %s)", name, name)}
	}
	fn, ok := subs[args[0]]
	if !ok {
		return &usageError{fmt.Sprintf("unknown command %q: %s takes %s (xenagentctl help %s)",
			name+" "+args[0], name, strings.Join(order, ", "), name)}
	}
	return fn(ctx, e, args[1:])
}

// info runs "NOUN info ID": the object as JSON.
func info(method string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := e.flagSet(method)
		words, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		id, err := oneID(words)
		if err != nil {
			return err
		}
		return show(ctx, e, method, id)
	}
}

// action runs "NOUN VERB ID [-wait]": the operation it queued, then,
// with -wait, its progress until it ends.
func action(method string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := e.flagSet(method)
		wait := fs.Bool("wait", false, "wait until the operation ends")
		words, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		id, err := oneID(words)
		if err != nil {
			return err
		}
		v, err := e.c.call(ctx, method, id)
		if err != nil {
			return err
		}
		return e.operations(ctx, v, *wait)
	}
}

// operations prints the operations a call returned (one or a list) and,
// with wait, waits for them all; any other answer is printed as JSON.
func (e *env) operations(ctx context.Context, v any, wait bool) error {
	list, ok := opIDs(v)
	if !ok {
		if wait {
			return fmt.Errorf("-wait: the answer is not an operation: %v", v)
		}
		return printJSON(e.out, v)
	}
	if e.json {
		if err := printJSON(e.out, v); err != nil {
			return err
		}
	} else {
		for _, o := range asList(v) {
			m := o.(map[string]any)
			fmt.Fprintf(e.out, "operation %v %v %v\n", m["id"], m["type"], m["step"])
		}
	}
	if !wait {
		return nil
	}
	return e.waitOps(ctx, list)
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// opIDs are the ids of an answer made of operations (an operation, or a
// list of them, as create_from returns).
func opIDs(v any) ([]int64, bool) {
	list := asList(v)
	if len(list) == 0 {
		return nil, false
	}
	var out []int64
	for _, o := range list {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, false
		}
		id, ok := m["id"].(int64)
		_, hasStep := m["step"]
		_, hasType := m["type"]
		if !ok || !hasStep || !hasType {
			return nil, false
		}
		out = append(out, id)
	}
	return out, true
}

func show(ctx context.Context, e *env, method string, params ...any) error {
	v, err := e.c.call(ctx, method, params...)
	if err != nil {
		return err
	}
	return printJSON(e.out, v)
}

var vmList = listing{method: "hosting.vm.list", cols: []string{"id", "hostname", "state", "memory", "cores", "disks_id", "ifaces_id"},
	filters: []filter{{flag: "state", key: "state"}, {flag: "hostname", key: "~hostname"}, {flag: "datacenter", key: "datacenter_id", parse: idArg}}}

var vmVerb = &verb{
	name: "vm",
	summary: `vm list [--state S] [--hostname PATTERN] [--page N] [--limit N]
vm info ID | vm start|stop|reboot|delete ID [-wait]
vm stop|reboot ID -force [-wait] | vm pause|resume ID [-wait]
vm lock ID DESCRIPTION | vm unlock ID | vm locks ID
vm rebuild ID (-image N | -disk N) [-no-start] [-wait] | vm reset-password ID [-wait]
vm iso attach ID ISO_ID | vm iso detach ID | vm boot-type ID default|cdrom [-wait]
vm migrate ID -to URL -to-key-file FILE [-same-network auto|yes|no] [-account N] [-cold|-live] [-wait]`,
	help: `usage: xenagentctl vm list [--state S] [--hostname PATTERN] [--datacenter ID] [--page N] [--limit N]
       xenagentctl vm info ID
       xenagentctl vm start|stop|reboot|delete ID [-wait]
       xenagentctl vm stop|reboot ID -force [-wait]
       xenagentctl vm pause|resume ID [-wait]
       xenagentctl vm lock ID DESCRIPTION | vm unlock ID | vm locks ID
       xenagentctl vm rebuild ID (-image N | -disk N) [-no-start] [-wait]
       xenagentctl vm reset-password ID [-wait]
       xenagentctl vm iso attach ID ISO_ID | vm iso detach ID [-wait]
       xenagentctl vm boot-type ID default|cdrom [-wait]
       xenagentctl vm migrate ID -to URL -to-key-file FILE [-same-network auto|yes|no] [-account N] [-cold|-live] [-wait]

list prints a table of VMs by id (as numbers), a page at a time (--page
counts from 1, --limit rows a page, 100 by default, at most 500), or
JSON with -o json. --state is running, halted, paused, being_created or
locked; --hostname a pattern (% any run, _ one character, any case).
info prints the VM as JSON.
stop and reboot -force power off or reset at once, without asking the guest
(and without waiting behind a graceful stop or reboot). pause suspends a
running VM, resume lets it run on.
start, stop, reboot, delete, pause and resume print the operation they queued; with
-wait, they show its step, the time elapsed and an ETA on stderr while it
runs (from the average of the latest finished operations of its type,
else the agent's estimate), print its end and exit 1 unless it is DONE.
lock (operator key) places the operator's lock on a VM, the words after
the id its description: every change to the VM is then refused with a
fault naming the lock. unlock removes it; both print the lock as JSON.
locks prints the VM's locks: the operator's, then one per operation on it.
rebuild reinstalls the VM's system disk from an image (-image, an id of
hosting.image.list) or a disk of the account (-disk), keeping its id,
ifaces and data disks, and starts it unless -no-start; it prints the
operations it queued (stop, detach, rebuild, attach, start).
reset-password sets a new random password for root and the login user,
applied at the VM's next boot, and prints it this once ("password: ...").
iso attach puts an ISO (xenagentctl iso list) in the VM's CD-ROM, iso
detach takes it out and boots from the disk again; boot-type cdrom boots
from the CD, default from the system disk. Each changes the definition at
once and a running guest at its next boot (vm reboot makes it one).
migrate moves the VM, with its disks and ifaces (the same ids), to the
agent -to: its API URL as -url takes it, or its base https://host:port.
It reads the VM from this agent (vm.info: memory, cores, each disk's id
and size, each iface's address), asks the target for a ticket with the
target's operator key (-to-key-file: a file, never an argument), then
asks this agent to move the VM with it (operator key on both). The
ticket is a one-time secret: it is never printed. -same-network auto
(the default) keeps the addresses when both agents' host.info name the
same datacenter, else the target leases new ones from its pool; yes or
no forces it (a target whose pool does not hold an address refuses the
ticket naming ifaces[N].ip: use -same-network no). The ticket names the
owner's account: vm.info gives it (account_id, to the operator key);
-account is needed only with an agent that does not, and if given must
be the owner vm.info names (else refused before a ticket is asked). A VM
with an ISO attached or snapshots does not move. With -wait it shows the
bytes sent, the rate and an ETA on stderr, and prints the end with the
downtime (the VM's pause or stop to its resume or start on the target)
and the mode: live (a running VM's memory moved with it, the guest goes
on where it was) where both hosts can and it is the agents' default
(QEMU; on Xen -live asks for it, disk paths equal on both hosts), else
cold with why (-cold asks for it: the guest shuts down and boots on the
target), then waits for
the target's side. -timeout (10m by default) bounds the wait; a move the
client stops waiting for goes on (op wait ID).

examples:
  xenagentctl vm list --state running --limit 20
  xenagentctl vm list --hostname 'web%' -o json
  xenagentctl vm info 12
  xenagentctl vm stop 12 -wait
  xenagentctl vm stop 12 -force
  xenagentctl vm lock 12 legal hold, ticket 4711
  xenagentctl vm rebuild 12 -image 3 -wait
  xenagentctl vm reset-password 12
  xenagentctl vm iso attach 12 2 && xenagentctl vm boot-type 12 cdrom -wait
  xenagentctl vm migrate 12 -to https://host2:8443 -to-key-file /root/host2.key -account 3 -wait
`,
	run: func(ctx context.Context, e *env, args []string) error {
		return dispatch(ctx, e, "vm", args, map[string]func(context.Context, *env, []string) error{
			"list":           func(ctx context.Context, e *env, args []string) error { return vmList.list(ctx, e, "vm", args) },
			"info":           info("hosting.vm.info"),
			"start":          action("hosting.vm.start"),
			"stop":           forceable("hosting.vm.stop"),   // power.go
			"reboot":         forceable("hosting.vm.reboot"), // power.go
			"delete":         action("hosting.vm.delete"),
			"pause":          action("hosting.vm.pause"),
			"resume":         action("hosting.vm.resume"),
			"lock":           vmLockCmd, // lock.go
			"unlock":         info("hosting.vm.unlock"),
			"locks":          vmLocksCmd,
			"rebuild":        vmRebuildCmd,       // rebuild.go
			"reset-password": vmResetPasswordCmd, // rebuild.go
			"iso":            vmISOCmd,           // iso.go
			"boot-type":      vmBootTypeCmd,      // iso.go
			"migrate":        migrateCmd("vm"),   // migrate.go
		}, []string{"list", "info", "start", "stop", "reboot", "delete", "pause", "resume", "lock", "unlock", "locks",
			"rebuild", "reset-password", "iso", "boot-type", "migrate"})
	},
}

var diskList = listing{method: "hosting.disk.list", cols: []string{"id", "name", "size", "state", "type", "vms_id"},
	filters: []filter{{flag: "state", key: "state"}, {flag: "type", key: "type"}, {flag: "name", key: "~name"}, {flag: "vm", key: "vm_id", parse: idArg},
		{flag: "can-snapshot", key: "can_snapshot", parse: boolArg}, {flag: "date-created", key: "date_created", parse: dayArg}}}

var diskVerb = &verb{
	name: "disk",
	summary: `disk list [--state S] [--type T] [--name PATTERN] [--vm ID] [--can-snapshot true|false]
    [--date-created DAY] [--page N] [--limit N]
disk info ID | disk migrate ID -to URL -to-key-file FILE [-account N] [-wait]`,
	help: `usage: xenagentctl disk list [--state S] [--type T] [--name PATTERN] [--vm ID]
           [--can-snapshot true|false] [--date-created DAY] [--page N] [--limit N]
       xenagentctl disk info ID
       xenagentctl disk migrate ID -to URL -to-key-file FILE [-account N] [-wait]

list prints a table of disks by id (as numbers), a page at a time (--page
counts from 1, --limit rows a page, 100 by default, at most 500), or
JSON with -o json. --type is data or snapshot; --name a pattern (% any
run, _ one character); --vm the disks attached to that VM; --can-snapshot
true the disks that can be snapshotted (data disks), false the others;
--date-created DAY those created that UTC day (YYYY-MM-DD). info prints
the disk as JSON.
migrate moves a detached data disk (attached to no VM: an attached one
moves with its VM) to another agent, as vm migrate does (xenagentctl help
vm): its data once, the same id there.

examples:
  xenagentctl disk list --vm 12
  xenagentctl disk list --type snapshot --page 2
  xenagentctl disk list --can-snapshot true --date-created 2026-12-03
  xenagentctl disk info 40
  xenagentctl disk migrate 40 -to https://host2:8443 -to-key-file /root/host2.key -account 3 -wait
`,
	run: func(ctx context.Context, e *env, args []string) error {
		return dispatch(ctx, e, "disk", args, map[string]func(context.Context, *env, []string) error{
			"list":    func(ctx context.Context, e *env, args []string) error { return diskList.list(ctx, e, "disk", args) },
			"info":    info("hosting.disk.info"),
			"migrate": migrateCmd("disk"), // migrate.go
		}, []string{"list", "info", "migrate"})
	},
}

var opList = listing{method: "operation.list", newest: true,
	cols: []string{"id", "type", "step", "vm_id", "disk_id", "iface_id", "date_created", "last_error"},
	filters: []filter{{flag: "type", key: "type"}, {flag: "step", key: "step"}, {flag: "vm", key: "vm_id", parse: idArg},
		{flag: "disk", key: "disk_id", parse: idArg}, {flag: "iface", key: "iface_id", parse: idArg}}}

var opVerb = &verb{
	name: "op",
	summary: `op list [--type T] [--step S] [--vm ID] [--page N] [--limit N]
op info ID | op wait ID... | op cancel ID`,
	help: `usage: xenagentctl op list [--type T] [--step S] [--vm ID] [--disk ID] [--iface ID] [--page N] [--limit N]
       xenagentctl op info ID
       xenagentctl op wait ID...
       xenagentctl op cancel ID

list prints a table of operations, the newest first, a page at a time
(--page counts from 1, --limit rows a page, 100 by default, at most 500),
or JSON with -o json. --step is WAIT, RUN, DONE, ERROR or CANCEL; --type
an operation type (vm_create, vm_stop, disk_create...).
wait shows each operation's step, the time elapsed and an ETA on stderr
until it ends, prints its end, and exits 1 unless all are DONE.
cancel asks a waiting or running operation to stop.

examples:
  xenagentctl op list --limit 20
  xenagentctl op list --step ERROR --type vm_create
  xenagentctl op list --vm 12 -o json
  xenagentctl op wait 301 302 303
`,
	run: func(ctx context.Context, e *env, args []string) error {
		return dispatch(ctx, e, "op", args, map[string]func(context.Context, *env, []string) error{
			"list": func(ctx context.Context, e *env, args []string) error { return opList.list(ctx, e, "op", args) },
			"info": info("operation.info"),
			"wait": func(ctx context.Context, e *env, args []string) error {
				words, err := parseArgs(e.flagSet("op wait"), args)
				if err != nil {
					return err
				}
				list, err := ids(words)
				if err != nil {
					return err
				}
				return e.waitOps(ctx, list)
			},
			"cancel": info("operation.cancel"),
		}, []string{"list", "info", "wait", "cancel"})
	},
}

var hostVerb = &verb{
	name:    "host",
	summary: "host\tthe host's capacity and load (operator key)\nhost empty -to URL -to-key-file FILE [-parallel N] [-o json]\tmove every VM, detached disk and iface to another agent",
	help: `usage: xenagentctl host
       xenagentctl host empty -to URL -to-key-file FILE [-parallel N] [-same-network auto|yes|no] [-account N] [-cold|-live] [-o json]

Prints hosting.host.info (the operator key only): memory total and free
(Xen's free memory on Xen), cpus, the storage pool's size, use and room
(a thin pool's data and metadata), VMs by state, operations running and
queued, the agent's version, datacenter and health, one "key: value" a
line, or JSON with -o json. Sizes are MB.

empty moves everything the host holds that can move to the agent -to
(operator keys on both), as vm migrate, disk migrate and iface migrate
do (xenagentctl help vm): every VM by id, then the data disks and ifaces
attached to no VM. One move at a time, each followed to its end (its
progress on stderr); -parallel N runs N side by side (1 to 16). The first
failure stops it: moves under way end, no other starts, and it prints
what did not move and why, what moved and what was not tried, and exits
1. Either way it ends with what is left on the source ("left on the
source: nothing" when all moved). With -o json it prints only one JSON
object at the end: moved (kind, id, operation and target_operation at
their ends), failed (kind, id, error), not_tried (kind, id) and left
(vm, disk and iface as their lists answer). Each move's ticket names its
owner from the info calls: leave -account out on a host of several
accounts (given, every item must be that account's). Left behind on
purpose: images (the host's own), snapshots (they are this host's: a VM
or disk with snapshots does not move, delete them first) and a VM with
an ISO attached. -timeout (10m by default) bounds the whole command: give a
host of many VMs more; a move the client stops waiting for goes on.

examples:
  xenagentctl host
  xenagentctl -o json host
  xenagentctl -timeout 4h host empty -to https://host2:8443 -to-key-file /root/host2.key -parallel 2
  xenagentctl host empty -to https://host2:8443 -to-key-file /root/host2.key -o json > emptied.json
`,
	run: func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 && args[0] == "empty" {
			return hostEmptyCmd(ctx, e, args[1:]) // migrate.go
		}
		words, err := parseArgs(e.flagSet("host"), args)
		if err != nil {
			return err
		}
		if len(words) > 0 {
			return &usageError{fmt.Sprintf("host: unexpected %q (xenagentctl help host)", words[0])}
		}
		v, err := e.c.call(ctx, "hosting.host.info")
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if e.json || !ok {
			return printJSON(e.out, v)
		}
		return fields(e.out, m)
	},
}

var callVerb = &verb{
	name:    "call",
	summary: "call METHOD [ARG...] [-wait]\tany API method; the key is added first",
	rawArgs: true,
	help: `usage: xenagentctl call METHOD [ARG...] [-wait]

Calls any API method with the key as first parameter and the arguments,
each a JSON value (whole numbers become integers) or a bare word, taken
as a string ('"true"' is the string true), and prints the result as JSON. With -wait (first or last), a method that returns operations
(create, update, delete...) is followed until they all end, with their
step, the time elapsed and an ETA on stderr.

examples:
  xenagentctl call hosting.vm.list '{"state": "running"}'
  xenagentctl call hosting.vm.update 12 '{"memory": 1024}' -wait
  xenagentctl call hosting.vm.boot_type 12 cdrom
  xenagentctl call hosting.vm.create_from '{"datacenter_id": 1, "hostname": "web1", "memory": 512}' '{}' 3 -wait
`,
	run: func(ctx context.Context, e *env, args []string) error {
		wait := false
		// Only a leading or trailing -wait is ours: anything else is a
		// JSON argument of the method.
		for len(args) > 0 && (args[0] == "-wait" || args[0] == "--wait") {
			wait, args = true, args[1:]
		}
		for len(args) > 0 && (args[len(args)-1] == "-wait" || args[len(args)-1] == "--wait") {
			wait, args = true, args[:len(args)-1]
		}
		if len(args) == 0 {
			return &usageError{"call: a METHOD is required (xenagentctl help call)"}
		}
		var params []any
		for _, a := range args[1:] {
			v, err := callArg(a)
			if err != nil {
				return err
			}
			params = append(params, v)
		}
		v, err := e.c.call(ctx, args[0], params...)
		if err != nil {
			return err
		}
		if !wait {
			return printJSON(e.out, v)
		}
		if _, ok := opIDs(v); !ok {
			return fmt.Errorf("-wait: %s did not return operations: %v", args[0], v)
		}
		if err := printJSON(e.out, v); err != nil {
			return err
		}
		list, _ := opIDs(v)
		return e.waitOps(ctx, list)
	},
}

// callArg reads one of call's arguments: a JSON value, or else a bare
// word taken as a string (call hosting.vm.boot_type 12 cdrom). What
// starts as JSON would ({, [, ", a digit or a minus) must be JSON: a
// mistyped object or number is told, not sent as a string.
func callArg(a string) (any, error) {
	var v any
	err := json.Unmarshal([]byte(a), &v)
	if err == nil {
		return fromJSON(v), nil
	}
	if t := strings.TrimLeft(a, " \t\r\n"); t != "" && strings.ContainsRune(`{["-0123456789`, rune(t[0])) {
		return nil, fmt.Errorf("argument %q is not JSON: %w", a, err)
	}
	return a, nil
}

var versionVerb = &verb{
	name:    "version",
	summary: "version\tthe agent's version.info",
	help: `usage: xenagentctl version

Prints the agent's version.info as JSON (xenagentctl -version prints the
client's).

examples:
  xenagentctl version
`,
	run: func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return &usageError{fmt.Sprintf("version: unexpected %q", args[0])}
		}
		return show(ctx, e, "version.info")
	},
}
