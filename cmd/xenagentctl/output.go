package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// flagSet is a command's flags: it reports errors as usage errors and
// takes -o, like the global flag, after the command too.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("o", "output: table or json", func(s string) (err error) { e.json, err = parseFormat(s); return err })
	return fs
}

// parseArgs parses flags anywhere among args ("vm stop 12 -wait" as
// well as "vm stop -wait 12") and returns the other words.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &usageError{fmt.Sprintf("%s: %v (xenagentctl help %s)", fs.Name(), err, strings.Fields(fs.Name())[0])}
		}
		args = fs.Args()
		if len(args) == 0 {
			return words, nil
		}
		words = append(words, args[0])
		args = args[1:]
	}
}

// ids reads every word as an id.
func ids(words []string) ([]int64, error) {
	var out []int64
	for _, a := range words {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not an id", a)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("an id is required")
	}
	return out, nil
}

// oneID reads exactly one id.
func oneID(words []string) (int64, error) {
	list, err := ids(words)
	if err != nil {
		return 0, err
	}
	if len(list) > 1 {
		return 0, fmt.Errorf("one id is expected, got %d", len(list))
	}
	return list[0], nil
}

// idOf is a row's id, 0 when it has none.
func idOf(r any) int64 {
	m, _ := r.(map[string]any)
	n, _ := m["id"].(int64)
	return n
}

// sortByID orders rows by id as numbers (10 after 9, not after 1), the
// newest (highest) first when newest.
func sortByID(rows []any, newest bool) {
	sort.SliceStable(rows, func(i, j int) bool {
		if newest {
			return idOf(rows[i]) > idOf(rows[j])
		}
		return idOf(rows[i]) < idOf(rows[j])
	})
}

// table prints rows (maps) as columns, in the order given.
func table(out io.Writer, rows []any, cols []string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, r := range rows {
		m, _ := r.(map[string]any)
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = cell(m[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cell renders one value for a table.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05")
	case []any:
		if len(x) == 0 {
			return "-"
		}
		parts := make([]string, len(x))
		for i := range x {
			parts[i] = cell(x[i])
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// printJSON prints v indented.
func printJSON(out io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

// fields prints a struct as "key: value" lines, sorted, nested maps
// flattened with dots.
func fields(out io.Writer, m map[string]any) error {
	flat := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			flat[prefix+k] = cell(v)
		}
	}
	walk("", m)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s:\t%s\n", k, flat[k])
	}
	return tw.Flush()
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
