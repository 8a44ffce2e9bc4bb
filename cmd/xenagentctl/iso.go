package main

import (
	"context"
	"fmt"
)

// The CD-ROM commands: iso list, vm iso attach|detach and vm boot-type,
// over the extensions hosting.iso.list, hosting.vm.iso_attach,
// hosting.vm.iso_detach and hosting.vm.boot_type.

func init() { register(isoVerb) }

var isoVerb = &verb{
	name:    "iso",
	summary: "iso list [--label LABEL]\tthe ISO images the operator registered",
	help: `usage: xenagentctl iso list [--label LABEL]

list prints a table of the ISO images the operator registered (the
[[isos]] of the agent's configuration), everyone's, by id, or JSON with
-o json; --label only the one of that label. Sizes are MB. vm iso attach
puts one in a VM's CD-ROM (xenagentctl help vm).

examples:
  xenagentctl iso list
  xenagentctl iso list --label rescue -o json
`,
	run: func(ctx context.Context, e *env, args []string) error {
		return dispatch(ctx, e, "iso", args, map[string]func(context.Context, *env, []string) error{
			"list": isoListCmd,
		}, []string{"list"})
	},
}

// isoListCmd runs "iso list [--label L]". hosting.iso.list takes filters
// only (no page, limit or sort): the list is the operator's, short.
func isoListCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("iso list")
	label := fs.String("label", "", "the ISO's label")
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return &usageError{fmt.Sprintf("iso list: unexpected %q (filters are flags: xenagentctl help iso)", words[0])}
	}
	opts := map[string]any{}
	if *label != "" {
		opts["label"] = *label
	}
	v, err := e.c.call(ctx, "hosting.iso.list", opts)
	if err != nil {
		return err
	}
	rows, ok := v.([]any)
	if !ok {
		return fmt.Errorf("iso list: the answer is not a list: %v", v)
	}
	sortByID(rows, false)
	if e.json {
		return printJSON(e.out, rows)
	}
	return table(e.out, rows, []string{"id", "label", "size", "datacenter_id", "date_created"})
}

// vmISOCmd runs "vm iso attach ID ISO_ID [-wait]" and "vm iso detach ID
// [-wait]".
func vmISOCmd(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "vm iso", args, map[string]func(context.Context, *env, []string) error{
		"attach": func(ctx context.Context, e *env, args []string) error {
			fs := e.flagSet("vm iso attach")
			wait := fs.Bool("wait", false, "wait until the operation ends")
			words, err := parseArgs(fs, args)
			if err != nil {
				return err
			}
			if len(words) != 2 {
				return &usageError{"vm iso attach: a VM ID and an ISO_ID are required (xenagentctl help vm)"}
			}
			list, err := ids(words)
			if err != nil {
				return err
			}
			v, err := e.c.call(ctx, "hosting.vm.iso_attach", list[0], list[1])
			if err != nil {
				return err
			}
			return e.operations(ctx, v, *wait)
		},
		"detach": action("hosting.vm.iso_detach"),
	}, []string{"attach", "detach"})
}

// vmBootTypeCmd runs "vm boot-type ID default|cdrom [-wait]".
func vmBootTypeCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("vm boot-type")
	wait := fs.Bool("wait", false, "wait until the operation ends")
	words, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 2 {
		return &usageError{"vm boot-type: an ID and default or cdrom are required (xenagentctl help vm)"}
	}
	id, err := oneID(words[:1])
	if err != nil {
		return err
	}
	if bt := words[1]; bt != "default" && bt != "cdrom" {
		return &usageError{fmt.Sprintf("vm boot-type: %q: the boot type is default (the system disk) or cdrom", bt)}
	}
	v, err := e.c.call(ctx, "hosting.vm.boot_type", id, words[1])
	if err != nil {
		return err
	}
	return e.operations(ctx, v, *wait)
}
