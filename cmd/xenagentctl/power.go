package main

import "context"

// forceable is action for vm stop and reboot, which take -force: power
// off or reset at once (the options extension {"force": true}).
func forceable(method string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := e.flagSet(method)
		wait := fs.Bool("wait", false, "wait until the operation ends")
		force := fs.Bool("force", false, "power off or reset at once, without asking the guest")
		words, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		id, err := oneID(words)
		if err != nil {
			return err
		}
		params := []any{id}
		if *force {
			params = append(params, map[string]any{"force": true})
		}
		v, err := e.c.call(ctx, method, params...)
		if err != nil {
			return err
		}
		return e.operations(ctx, v, *wait)
	}
}
