package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

// eventsHelp is the events command's text.
const eventsHelp = `usage: xenagentctl events [-cursor C] [-class CLASS,...] [-json]

Follows the agent's event feed live (hosting.event.from, a long poll), one
line per event, until interrupted (-timeout does not end it):

  TIME  CLASS/ID  ACTION  FIELD=VALUE...  cursor=C

A field marked * is one the event changed. Without -cursor it starts from
now; give the cursor a line printed to resume after that event, across
agent restarts too. A cursor older than the agent keeps (7 days, 100,000
events) or from another agent is refused: list the objects again and
follow from now. An account sees its own objects' events, the operator all.

flags:
  -cursor C      follow from after this cursor
  -class LIST    only these classes: operation, vm, disk, iface
  -json          each event as one JSON line

examples:
  xenagentctl events
  xenagentctl events -class vm,operation
  xenagentctl events -cursor 3f9c0d2a11b4e7c5-1042 -json
`

func init() {
	register(&verb{name: "events", summary: "events [-cursor C] [-class LIST] [-json]\tfollow the event feed live", help: eventsHelp,
		run: func(ctx context.Context, e *env, a []string) error { return runEvents(ctx, e.c, a, e.out) }})
}

// pollWait is how long one long poll waits (the API allows up to 60 s;
// the client's HTTP timeout is a minute).
const pollWait = 30

// runEvents follows the feed: args are the command's (after "events").
func runEvents(ctx context.Context, c *client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cursor := fs.String("cursor", "", "")
	classes := fs.String("class", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("events: %v (xenagentctl help events)", err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("events: unexpected %q (xenagentctl help events)", fs.Arg(0))}
	}
	// Following is open-ended: Ctrl-C ends it, not -timeout.
	ctx, stop := signal.NotifyContext(context.WithoutCancel(ctx), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return follow(ctx, c.call, *cursor, *classes, *asJSON, out, os.Stderr)
}

// rpcCall is client.call, or a test's.
type rpcCall func(ctx context.Context, method string, params ...any) (any, error)

// follow long-polls from cursor until ctx ends or the API refuses; a
// connection that fails (an agent restarting) is tried again.
func follow(ctx context.Context, call rpcCall, cursor, classes string, asJSON bool, out, status io.Writer) error {
	opts := map[string]any{"timeout": int64(pollWait)}
	if classes != "" {
		var list []any
		for _, c := range strings.Split(classes, ",") {
			list = append(list, strings.TrimSpace(c))
		}
		opts["classes"] = list
	}
	backoff := time.Second
	for ctx.Err() == nil {
		opts["cursor"] = cursor
		v, err := call(ctx, "hosting.event.from", opts)
		if err != nil {
			// A fault is the agent's answer and final, except CAUSE_UNAVAILABLE
			// (xx95: stopping, or its state disk refusing writes), which a
			// restart or a freed disk ends: follow across it.
			var f *xmlrpc.Fault
			if (errors.As(err, &f) && f.Code%100 != 95) || ctx.Err() != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			fmt.Fprintf(status, "xenagentctl: events: %v; trying again in %s\n", err, backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		r, _ := v.(map[string]any)
		evs, _ := r["events"].([]any)
		for _, e := range evs {
			m, _ := e.(map[string]any)
			if asJSON {
				b, _ := json.Marshal(m)
				fmt.Fprintln(out, string(b))
			} else {
				fmt.Fprintln(out, eventLine(m))
			}
		}
		if next, ok := r["cursor"].(string); ok {
			cursor = next
		}
	}
	return nil
}

// eventLine is one event on one line, its changed fields marked *.
func eventLine(m map[string]any) string {
	var b strings.Builder
	if t, ok := m["date"].(time.Time); ok {
		b.WriteString(t.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintf(&b, "  %v/%v  %v ", m["class"], m["id"], m["action"])
	changed := map[string]bool{}
	if l, ok := m["changed"].([]any); ok {
		for _, c := range l {
			changed[fmt.Sprint(c)] = true
		}
	}
	fields, _ := m["fields"].(map[string]any)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mark := ""
		if changed[k] {
			mark = "*"
		}
		v := fields[k]
		if l, ok := v.([]any); ok {
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = fmt.Sprint(x)
			}
			v = "[" + strings.Join(parts, ",") + "]"
		}
		fmt.Fprintf(&b, " %s%s=%v", k, mark, v)
	}
	fmt.Fprintf(&b, "  account=%v  cursor=%v", m["account_id"], m["cursor"])
	return b.String()
}
