package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Moving VMs, detached disks and ifaces to another agent (issue 15):
// the operator's side of hosting.migration.ticket (asked of the target)
// and hosting.vm.migrate, disk.migrate, iface.migrate (asked of the
// source), as the central tier would call them. The ticket is a secret
// the source alone needs: it goes from the target's answer to the
// source's call and is never printed.

// moveFlags are the flags every move takes.
type moveFlags struct {
	to, toKeyFile, sameNet string
	account                int64
	wait, cold, live       bool
}

func addMoveFlags(fs *flag.FlagSet, withWait bool) *moveFlags {
	m := &moveFlags{}
	fs.StringVar(&m.to, "to", "", "the target agent's URL (https://host:port or its /xmlrpc/ URL)")
	fs.StringVar(&m.toKeyFile, "to-key-file", "", "file holding the target's operator key")
	fs.StringVar(&m.sameNet, "same-network", string(netAuto), "keep the addresses: auto (same datacenter), yes or no")
	fs.Int64Var(&m.account, "account", 0, "the owner's account id, for an agent whose info calls do not name it (else it must be theirs)")
	fs.BoolVar(&m.cold, "cold", false, "move a running VM cold (shut down, booted on the target) even where its memory could move")
	fs.BoolVar(&m.live, "live", false, "ask for a live move where the agents do not make it the default (Xen: equal disk paths on both hosts)")
	if withWait {
		fs.BoolVar(&m.wait, "wait", false, "follow the move until it ends")
	}
	return m
}

// mover asks the target for tickets and the source to move with them.
type mover struct {
	e       *env
	dst     *client
	base    string // the target's base address, as the source takes it
	same    sameNetwork
	account int64
	cold    bool
	live    bool
	// hosts' host.info, read once, for -same-network auto (host empty's
	// moves side by side ask together).
	mu               sync.Mutex
	srcHost, dstHost map[string]any
}

func (e *env) newMover(name string, m *moveFlags) (*mover, error) {
	if m.to == "" {
		return nil, &usageError{name + ": -to URL is required: the target agent (xenagentctl help " + strings.Fields(name)[0] + ")"}
	}
	if m.toKeyFile == "" {
		return nil, &usageError{name + ": -to-key-file FILE is required: the target's operator key (never on the command line)"}
	}
	api, base, err := targetURLs(m.to)
	if err != nil {
		return nil, &usageError{name + ": " + err.Error()}
	}
	same, err := parseSameNetwork(m.sameNet)
	if err != nil {
		return nil, &usageError{name + ": " + err.Error()}
	}
	if m.account < 0 {
		return nil, &usageError{fmt.Sprintf("%s: -account %d: not an id", name, m.account)}
	}
	if m.cold && m.live {
		return nil, &usageError{name + ": -cold and -live: a move is one or the other"}
	}
	b, err := os.ReadFile(m.toKeyFile)
	if err != nil {
		return nil, fmt.Errorf("-to-key-file: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return nil, fmt.Errorf("-to-key-file %s: empty", m.toKeyFile)
	}
	return &mover{e: e, dst: newClient(api, key), base: base, same: same, account: m.account, cold: m.cold, live: m.live}, nil
}

// sameNetwork decides -same-network auto once, from both host.info.
func (m *mover) sameNetwork(ctx context.Context) (bool, error) {
	if m.same != netAuto {
		return m.same == netYes, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srcHost == nil || m.dstHost == nil {
		sv, err := m.e.c.call(ctx, "hosting.host.info")
		if err != nil {
			return false, fmt.Errorf("source: hosting.host.info: %w", err)
		}
		dv, err := m.dst.call(ctx, "hosting.host.info")
		if err != nil {
			return false, fmt.Errorf("target: hosting.host.info: %w", err)
		}
		src, ok1 := sv.(map[string]any)
		dst, ok2 := dv.(map[string]any)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("hosting.host.info answered %T and %T, not structs", sv, dv)
		}
		m.srcHost, m.dstHost = src, dst
	}
	return m.same.decide(m.srcHost, m.dstHost), nil
}

// info calls method id on the source and wants a struct.
func (m *mover) info(ctx context.Context, method string, id int64) (map[string]any, error) {
	v, err := m.e.c.call(ctx, method, id)
	if err != nil {
		return nil, fmt.Errorf("source: %s %d: %w", method, id, err)
	}
	info, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("source: %s %d answered %T", method, id, v)
	}
	return info, nil
}

// start moves one VM, disk or iface: the ticket from the target, then
// the source's migrate call; it returns the source's operation.
func (m *mover) start(ctx context.Context, it item) (map[string]any, error) {
	info, err := m.info(ctx, "hosting."+it.kind+".info", it.id)
	if err != nil {
		return nil, err
	}
	account, err := accountOf(info, m.account)
	if err != nil {
		return nil, fmt.Errorf("%s %d: %w", it.kind, it.id, err)
	}
	if it.kind == "vm" {
		if err := m.unlocked(ctx, it.id); err != nil {
			return nil, err
		}
	}
	var req map[string]any
	if it.kind == "disk" {
		req, err = detachedDiskTicket(info, account)
	} else {
		var same bool
		if same, err = m.sameNetwork(ctx); err != nil {
			return nil, err
		}
		if it.kind == "vm" {
			req, err = vmTicket(info, account, same)
		} else {
			req, err = detachedIfaceTicket(info, account, same)
		}
	}
	if err != nil {
		return nil, err
	}
	v, err := m.dst.call(ctx, "hosting.migration.ticket", req)
	if err != nil {
		return nil, fmt.Errorf("target: hosting.migration.ticket for %s %d: %w", it.kind, it.id, err)
	}
	g, _ := v.(map[string]any)
	secret, _ := g["ticket"].(string)
	if secret == "" {
		return nil, fmt.Errorf("target: hosting.migration.ticket for %s %d answered no ticket", it.kind, it.id)
	}
	spec := map[string]any{"target": m.base, "ticket": secret}
	if it.kind == "vm" && (m.cold || m.live) {
		spec["live"] = m.live
	}
	v, err = m.e.c.call(ctx, "hosting."+it.kind+".migrate", it.id, spec)
	if err != nil {
		// Nothing moved; the unused ticket holds the target's room until
		// it expires.
		return nil, fmt.Errorf("source: hosting.%s.migrate %d: %w (the target's ticket %v is unused: it holds the room and ids it admits until it expires, in %d min)",
			it.kind, it.id, err, g["ticket_id"], ticketExpires/60)
	}
	op, ok := v.(map[string]any)
	if _, isOp := opIDs(v); !ok || !isOp {
		return nil, fmt.Errorf("source: hosting.%s.migrate %d answered %v, not an operation", it.kind, it.id, v)
	}
	return op, nil
}

// unlocked refuses a VM under the operator's lock before a ticket is
// asked: the source would refuse the move after the target reserved
// its room, for as long as the ticket lives. An operation's lock is no
// reason: the move waits its turn behind it.
func (m *mover) unlocked(ctx context.Context, id int64) error {
	v, err := m.e.c.call(ctx, "hosting.vm.locks", id)
	if err != nil {
		return fmt.Errorf("source: hosting.vm.locks %d: %w", id, err)
	}
	list, _ := v.([]any)
	for _, l := range list {
		if lm, _ := l.(map[string]any); lm["lock_type"] == "admin" {
			return fmt.Errorf("vm %d is locked by the operator (%v): vm unlock %d first", id, lm["description"], id)
		}
	}
	return nil
}

// item is what moves: a vm, a (detached) disk or an iface.
type item struct {
	kind string
	id   int64
}

func (it item) String() string { return fmt.Sprintf("%s %d", it.kind, it.id) }

// migrateCmd is "vm|disk|iface migrate ID -to URL -to-key-file F
// [-same-network auto|yes|no] [-account N] [-wait]".
func migrateCmd(kind string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		name := kind + " migrate"
		fs := e.flagSet(name)
		mf := addMoveFlags(fs, true)
		words, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		id, err := oneID(words)
		if err != nil {
			return err
		}
		m, err := e.newMover(name, mf)
		if err != nil {
			return err
		}
		it := item{kind, id}
		op, err := m.start(ctx, it)
		if err != nil {
			return err
		}
		if err := e.operations(ctx, op, mf.wait); err != nil || !mf.wait {
			return err
		}
		line, end, err := m.waitTarget(ctx, e, it)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(e.out, end)
		}
		fmt.Fprintln(e.out, line)
		return nil
	}
}

// waitTarget waits for the target's side of a finished move (its
// vm_migrate_in starts the VM after the source's operation ended) and
// returns its end line and the operation: the move is over when both are.
func (m *mover) waitTarget(ctx context.Context, we *env, it item) (string, map[string]any, error) {
	typ := it.kind + "_migrate_in"
	v, err := m.dst.call(ctx, "operation.list", map[string]any{"type": typ, it.kind + "_id": it.id, "sort_by": "-id", "items_per_page": int64(1)})
	if err != nil {
		return "", nil, fmt.Errorf("target: operation.list: %w", err)
	}
	list, _ := v.([]any)
	if len(list) == 0 {
		return "", nil, fmt.Errorf("target: no %s operation for %s", typ, it)
	}
	te := *we
	te.c, te.label = m.dst, "target: "
	id := idOf(list[0])
	end, err := te.wait(ctx, id, estimates{})
	if err != nil {
		return "", nil, fmt.Errorf("target: operation %d: %w", id, err)
	}
	line := fmt.Sprintf("target: operation %d %v %v", id, end["type"], end["step"])
	if end["step"] != "DONE" {
		msg, _ := end["last_error"].(string)
		return "", nil, fmt.Errorf("%s: %s", line, msg)
	}
	return line, end, nil
}

// hostEmptyCmd is "host empty -to URL -to-key-file F [-parallel N]
// [-same-network ...] [-account N] [-o json]": every VM of the source,
// then its detached data disks and ifaces, moved to the target; the
// first failure stops it (moves under way end first); at the end what
// is left on the source is listed. -o json prints it all as one object
// at the end (hostEmptyJSON).
func hostEmptyCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("host empty")
	mf := addMoveFlags(fs, false)
	parallel := fs.Int("parallel", 1, "moves at a time")
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return &usageError{fmt.Sprintf("host empty: unexpected %q (xenagentctl help host)", words[0])}
	}
	if *parallel < 1 || *parallel > 16 {
		return &usageError{fmt.Sprintf("host empty: -parallel %d: must be from 1 to 16", *parallel)}
	}
	m, err := e.newMover("host empty", mf)
	if err != nil {
		return err
	}
	held, err := e.held(ctx)
	if err != nil {
		return err
	}
	var todo []item
	for _, kind := range []string{"vm", "disk", "iface"} {
		for _, r := range held[kind] {
			if kind == "vm" || detached(kind, r) {
				todo = append(todo, item{kind, idOf(r)})
			}
		}
	}
	moved, failures, notTried := m.moveAll(ctx, todo, *parallel)
	left, lerr := e.held(context.WithoutCancel(ctx))
	if e.json {
		if err := printJSON(e.out, hostEmptyJSON(moved, failures, notTried, left, lerr)); err != nil {
			return err
		}
	} else {
		if len(failures) > 0 {
			fmt.Fprintf(e.out, "stopped: %s did not move: %v\n", failures[0].it, failures[0].err)
			fmt.Fprintf(e.out, "moved: %s\n", listItems(itemsOf(moved)))
			fmt.Fprintf(e.out, "not tried: %s\n", listItems(notTried))
		}
		if lerr != nil {
			fmt.Fprintf(e.out, "left on the source: unknown (%v)\n", lerr)
		} else {
			e.printLeft(left)
		}
	}
	if len(failures) > 0 {
		f := failures[0]
		return fmt.Errorf("host empty: %s did not move (%d moved, %d not tried): %w", f.it, len(moved), len(notTried), f.err)
	}
	return lerr
}

type failure struct {
	it  item
	err error
}

// movedItem is a move that ended DONE: its line, the source's operation
// at its end and the target's.
type movedItem struct {
	it     item
	line   string
	op, in map[string]any
}

func itemsOf(list []movedItem) []item {
	out := make([]item, len(list))
	for i, m := range list {
		out[i] = m.it
	}
	return out
}

// hostEmptyJSON is host empty's answer under -o json: what moved (each
// with both operations' ends), what failed (the first stopped it; moves
// already under way may fail too), what was not tried, and what is left
// on the source as its list calls answer (left_error instead when they
// failed).
func hostEmptyJSON(moved []movedItem, failures []failure, notTried []item, left map[string][]any, lerr error) map[string]any {
	ref := func(it item) map[string]any { return map[string]any{"kind": it.kind, "id": it.id} }
	mv, fl, nt := []any{}, []any{}, []any{}
	for _, m := range moved {
		r := ref(m.it)
		r["operation"], r["target_operation"] = m.op, m.in
		mv = append(mv, r)
	}
	for _, f := range failures {
		r := ref(f.it)
		r["error"] = f.err.Error()
		fl = append(fl, r)
	}
	for _, it := range notTried {
		nt = append(nt, ref(it))
	}
	out := map[string]any{"moved": mv, "failed": fl, "not_tried": nt}
	if lerr != nil {
		out["left_error"] = lerr.Error()
		return out
	}
	l := map[string]any{}
	for _, kind := range []string{"vm", "disk", "iface"} {
		l[kind] = append([]any{}, left[kind]...)
	}
	out["left"] = l
	return out
}

// moveAll moves items, parallel at a time, in order; after the first
// failure (failures[0]) it starts no other move and waits for those
// under way. Unless the output is JSON, each end is printed as it comes.
func (m *mover) moveAll(ctx context.Context, items []item, parallel int) (moved []movedItem, failures []failure, notTried []item) {
	type result struct {
		movedItem
		err error
	}
	// Progress on a terminal rewrites one line: with moves side by side
	// only their ends are shown.
	we := *m.e
	if parallel > 1 {
		we.status, we.tty = io.Discard, false
	}
	results := make(chan result)
	next, running := 0, 0
	for {
		for len(failures) == 0 && running < parallel && next < len(items) {
			it := items[next]
			next++
			running++
			go func() {
				mi, err := m.moveOne(ctx, &we, it)
				mi.it = it
				results <- result{mi, err}
			}()
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		if r.err != nil {
			if len(failures) > 0 && !m.e.json {
				fmt.Fprintf(m.e.out, "%s did not move either: %v\n", r.it, r.err)
			}
			failures = append(failures, failure{r.it, r.err})
			continue
		}
		moved = append(moved, r.movedItem)
		if !m.e.json {
			fmt.Fprintln(m.e.out, r.line)
		}
	}
	return moved, failures, items[next:]
}

// moveOne moves it and waits for the source's operation to end, then
// for the target's.
func (m *mover) moveOne(ctx context.Context, we *env, it item) (movedItem, error) {
	var mi movedItem
	op, err := m.start(ctx, it)
	if err != nil {
		return mi, err
	}
	id := idOf(op)
	end, err := we.wait(ctx, id, estimates{})
	if err != nil {
		return mi, fmt.Errorf("operation %d: %w (the move goes on on the agents: xenagentctl op wait %d)", id, err, id)
	}
	line := fmt.Sprintf("%s: operation %d %v %v", it, id, end["type"], end["step"])
	if t, ok := transferOf(end); ok {
		line += t.end()
	}
	if end["step"] != "DONE" {
		msg, _ := end["last_error"].(string)
		return mi, fmt.Errorf("operation %d %v ended %v: %s", id, end["type"], end["step"], msg)
	}
	in, inEnd, err := m.waitTarget(ctx, we, it)
	if err != nil {
		return mi, err
	}
	mi.line, mi.op, mi.in = line+"; "+in, end, inEnd
	return mi, nil
}

// detached reports a disk or an iface attached to no VM, that moves on
// its own: a data disk (images and snapshots are this host's), an iface.
func detached(kind string, r any) bool {
	row, _ := r.(map[string]any)
	switch kind {
	case "disk":
		vms, _ := row["vms_id"].([]any)
		return row["type"] == "data" && len(vms) == 0
	case "iface":
		vm, _ := row["vm_id"].(int64)
		return vm == 0
	}
	return false
}

// held lists what the host holds by kind (vm, disk, iface), every page,
// by id. Disks are the accounts' (data and snapshots), not images.
func (e *env) held(ctx context.Context) (map[string][]any, error) {
	out := map[string][]any{}
	for _, kind := range []string{"vm", "disk", "iface"} {
		for page := int64(0); ; page++ {
			v, err := e.c.call(ctx, "hosting."+kind+".list", map[string]any{"items_per_page": int64(500), "page": page, "sort_by": "id"})
			if err != nil {
				return nil, fmt.Errorf("source: hosting.%s.list: %w", kind, err)
			}
			rows, _ := v.([]any)
			for _, r := range rows {
				if row, _ := r.(map[string]any); kind != "disk" || row["type"] != "image" {
					out[kind] = append(out[kind], r)
				}
			}
			if len(rows) < 500 {
				break
			}
		}
		sortByID(out[kind], false)
	}
	return out, nil
}

// printLeft says what the source still holds: "nothing", or a line per
// vm, disk and iface.
func (e *env) printLeft(left map[string][]any) {
	var lines []string
	for _, kind := range []string{"vm", "disk", "iface"} {
		for _, r := range left[kind] {
			row, _ := r.(map[string]any)
			what := fmt.Sprintf("  %s %d", kind, idOf(r))
			switch kind {
			case "vm":
				what += fmt.Sprintf(" %v (%v)", row["hostname"], row["state"])
			case "disk":
				what += fmt.Sprintf(" %v (%v, %v, vms %s)", row["name"], row["type"], row["state"], cell(row["vms_id"]))
			case "iface":
				what += fmt.Sprintf(" (%v, vm %s)", row["state"], cell(row["vm_id"]))
			}
			lines = append(lines, what)
		}
	}
	if len(lines) == 0 {
		fmt.Fprintln(e.out, "left on the source: nothing")
		return
	}
	fmt.Fprintln(e.out, "left on the source:")
	fmt.Fprintln(e.out, strings.Join(lines, "\n"))
}

func listItems(list []item) string {
	if len(list) == 0 {
		return "none"
	}
	s := make([]string, len(list))
	for i, it := range list {
		s[i] = it.String()
	}
	return strings.Join(s, ", ")
}
