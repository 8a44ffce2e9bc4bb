package main

import (
	"context"
	"fmt"
	"strings"
)

// The operator lock's commands (vm lock, vm unlock, vm locks), over the
// extensions hosting.vm.lock, hosting.vm.unlock and hosting.vm.locks.

// vmLockCmd runs "vm lock ID DESCRIPTION...": the words after the id are
// the description, so it needs no quoting.
func vmLockCmd(ctx context.Context, e *env, args []string) error {
	words, err := parseArgs(e.flagSet("vm lock"), args)
	if err != nil {
		return err
	}
	if len(words) < 2 {
		return &usageError{"vm lock: an ID and a DESCRIPTION are required (xenagentctl help vm)"}
	}
	id, err := oneID(words[:1])
	if err != nil {
		return err
	}
	return show(ctx, e, "hosting.vm.lock", id, strings.Join(words[1:], " "))
}

// vmLocksCmd runs "vm locks ID": a table of the VM's locks (the
// operator's, then one per operation on it), or JSON.
func vmLocksCmd(ctx context.Context, e *env, args []string) error {
	words, err := parseArgs(e.flagSet("vm locks"), args)
	if err != nil {
		return err
	}
	id, err := oneID(words)
	if err != nil {
		return err
	}
	v, err := e.c.call(ctx, "hosting.vm.locks", id)
	if err != nil {
		return err
	}
	rows, ok := v.([]any)
	if !ok {
		return fmt.Errorf("vm locks: the answer is not a list: %v", v)
	}
	if e.json {
		return printJSON(e.out, rows)
	}
	return table(e.out, rows, []string{"id", "lock_type", "operation_id", "date_created", "description"})
}
