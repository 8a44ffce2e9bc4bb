package main

import (
	"context"
	"flag"
	"fmt"
)

// vm rebuild and vm reset-password, over the extensions hosting.vm.rebuild
// and hosting.vm.reset_password.

// vmRebuildCmd runs "vm rebuild ID (-image N | -disk N) [-no-start]
// [-wait]": the chain of operations the rebuild queues (stop, detach,
// rebuild, attach, start), followed to its end with -wait.
func vmRebuildCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("vm rebuild")
	wait := fs.Bool("wait", false, "wait until the operations end")
	image := fs.Int64("image", 0, "the image's id (hosting.image.list)")
	disk := fs.Int64("disk", 0, "a disk of the account to copy")
	noStart := fs.Bool("no-start", false, "leave the VM halted at the end")
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	spec := map[string]any{}
	switch {
	case set["image"] && set["disk"]:
		return &usageError{"vm rebuild: -image and -disk: give one, not both (xenagentctl help vm)"}
	case set["image"]:
		if *image <= 0 {
			return &usageError{fmt.Sprintf("vm rebuild: -image %d: not an id", *image)}
		}
		spec["image_id"] = *image
	case set["disk"]:
		if *disk <= 0 {
			return &usageError{fmt.Sprintf("vm rebuild: -disk %d: not an id", *disk)}
		}
		spec["disk_id"] = *disk
	default:
		return &usageError{"vm rebuild: -image N or -disk N is required: the system to install (xenagentctl help vm)"}
	}
	if *noStart {
		spec["start"] = false
	}
	id, err := oneID(words)
	if err != nil {
		return err
	}
	v, err := e.c.call(ctx, "hosting.vm.rebuild", id, spec)
	if err != nil {
		return err
	}
	return e.operations(ctx, v, *wait)
}

// vmResetPasswordCmd runs "vm reset-password ID [-wait]": the vm_update
// operation, then the new password on a line of its own. The agent
// returns it this once and keeps only its hash, so it is printed before
// -wait waits: a wait that fails or times out must not lose it.
func vmResetPasswordCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("vm reset-password")
	wait := fs.Bool("wait", false, "wait until the operation ends")
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID(words)
	if err != nil {
		return err
	}
	v, err := e.c.call(ctx, "hosting.vm.reset_password", id)
	if err != nil {
		return err
	}
	op, _ := v.(map[string]any)
	list, ok := opIDs(v)
	if !ok || op == nil {
		return fmt.Errorf("vm reset-password: the answer is not an operation: %v", v)
	}
	pw, _ := op["password"].(string)
	if e.json {
		if err := printJSON(e.out, op); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.out, "operation %v %v %v\n", op["id"], op["type"], op["step"])
		if pw != "" {
			fmt.Fprintf(e.out, "password: %s\n", pw)
		}
	}
	if pw == "" {
		return fmt.Errorf("vm reset-password: operation %v carries no password (a retry answered without it?)", op["id"])
	}
	fmt.Fprintf(e.status, "The password for root and the VM's login user is shown this once: the agent keeps only its hash. VM %d applies it at its next boot.\n", id)
	if !*wait {
		return nil
	}
	return e.waitOps(ctx, list)
}
