// Command xenagentctl is the operator's client for the agent's API.
//
//	xenagentctl [-url URL] [-key KEY | -key-file FILE] COMMAND
//
//	vm list | vm info ID | vm start|stop|reboot|delete ID [-wait]
//	disk list | disk info ID
//	op list | op info ID | op wait ID... | op cancel ID
//	call METHOD [JSON-ARG...]     any method; the key is added first
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xenagent/xenagent/agent/xmlrpc"
)

type client struct {
	url string
	key string
	hc  *http.Client
}

func (c *client) call(ctx context.Context, method string, params ...any) (any, error) {
	body, err := xmlrpc.EncodeCall(method, append([]any{c.key}, params...)...)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return xmlrpc.DecodeResponse(resp.Body)
}

// wait polls operation.info until the operation reaches a final step.
func (c *client) wait(ctx context.Context, id int64) (map[string]any, error) {
	for {
		v, err := c.call(ctx, "operation.info", id)
		if err != nil {
			return nil, err
		}
		op := v.(map[string]any)
		switch op["step"] {
		case "DONE", "ERROR", "CANCEL":
			return op, nil
		}
		select {
		case <-ctx.Done():
			return op, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func main() {
	url := flag.String("url", envOr("XENAGENT_URL", "http://127.0.0.1:8080/xmlrpc/"), "API endpoint")
	key := flag.String("key", os.Getenv("XENAGENT_KEY"), "API key")
	keyFile := flag.String("key-file", "var/apikey", "file holding the API key, when -key is empty")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if *key == "" {
		raw, err := os.ReadFile(*keyFile)
		if err != nil {
			fatal(fmt.Errorf("no key: pass -key or -key-file (%v)", err))
		}
		*key = strings.TrimSpace(string(raw))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := &client{url: *url, key: *key, hc: &http.Client{Timeout: time.Minute}}
	if err := run(ctx, c, flag.Args(), os.Stdout); err != nil {
		fatal(err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fatal(err error) {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		fmt.Fprintf(os.Stderr, "xenagentctl: fault %d: %s\n", f.Code, f.Message)
	} else {
		fmt.Fprintln(os.Stderr, "xenagentctl:", err)
	}
	os.Exit(1)
}

func ids(args []string) ([]int64, error) {
	var out []int64
	for _, a := range args {
		if a == "-wait" {
			continue
		}
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an id", a)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("an id is required")
	}
	return out, nil
}

func run(ctx context.Context, c *client, args []string, out io.Writer) error {
	if len(args) < 2 && !(len(args) == 1 && args[0] == "version") {
		return errors.New("usage: xenagentctl vm|disk|op|call ... (see the package doc)")
	}
	switch args[0] {
	case "version":
		return show(ctx, c, out, "version.info")
	case "vm", "disk", "op":
		noun := map[string]string{"vm": "hosting.vm", "disk": "hosting.disk", "op": "operation"}[args[0]]
		switch verb := args[1]; verb {
		case "list":
			v, err := c.call(ctx, noun+".list", map[string]any{})
			if err != nil {
				return err
			}
			return table(out, v.([]any), map[string][]string{
				"vm":   {"id", "hostname", "state", "memory", "cores", "disks_id", "ifaces_id"},
				"disk": {"id", "name", "size", "state", "type", "vms_id"},
				"op":   {"id", "type", "step", "vm_id", "disk_id", "iface_id", "last_error"},
			}[args[0]])
		case "info":
			id, err := ids(args[2:])
			if err != nil {
				return err
			}
			return show(ctx, c, out, noun+".info", id[0])
		case "wait":
			idl, err := ids(args[2:])
			if err != nil {
				return err
			}
			for _, id := range idl {
				op, err := c.wait(ctx, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "operation %d %s %s %s\n", id, op["type"], op["step"], op["last_error"])
				if op["step"] != "DONE" {
					return fmt.Errorf("operation %d ended in %s", id, op["step"])
				}
			}
			return nil
		case "cancel":
			id, err := ids(args[2:])
			if err != nil {
				return err
			}
			return show(ctx, c, out, "operation.cancel", id[0])
		case "start", "stop", "reboot", "delete":
			id, err := ids(args[2:])
			if err != nil {
				return err
			}
			v, err := c.call(ctx, noun+"."+verb, id[0])
			if err != nil {
				return err
			}
			op := v.(map[string]any)
			fmt.Fprintf(out, "operation %v %v %v\n", op["id"], op["type"], op["step"])
			if contains(args, "-wait") {
				return run(ctx, c, []string{"op", "wait", fmt.Sprint(op["id"])}, out)
			}
			return nil
		}
	case "call":
		var params []any
		for _, a := range args[2:] {
			var v any
			if err := json.Unmarshal([]byte(a), &v); err != nil {
				return fmt.Errorf("argument %q is not JSON: %w", a, err)
			}
			params = append(params, fromJSON(v))
		}
		return show(ctx, c, out, args[1], params...)
	}
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fromJSON turns JSON numbers into integers where they are whole.
func fromJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case []any:
		for i := range x {
			x[i] = fromJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSON(x[k])
		}
	}
	return v
}

func show(ctx context.Context, c *client, out io.Writer, method string, params ...any) error {
	v, err := c.call(ctx, method, params...)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(out, string(b))
	return nil
}

func table(out io.Writer, rows []any, cols []string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	sort.SliceStable(rows, func(i, j int) bool {
		return fmt.Sprint(rows[i].(map[string]any)["id"]) < fmt.Sprint(rows[j].(map[string]any)["id"])
	})
	for _, r := range rows {
		m := r.(map[string]any)
		cells := make([]string, len(cols))
		for i, c := range cols {
			if m[c] == nil {
				cells[i] = "-"
			} else {
				cells[i] = fmt.Sprint(m[c])
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
