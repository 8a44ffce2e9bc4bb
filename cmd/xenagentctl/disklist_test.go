package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// disk list --can-snapshot and --date-created against an agent: the
// VM's system disk (a data disk, created today) is listed by true and
// today, not by false or another day.
func TestDiskListFilters(t *testing.T) {
	url, image := inProcessAgent(t)
	must := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		e := &env{c: newClient(url, aliceKey), out: &out, poll: 10 * time.Millisecond, now: time.Now}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := run(ctx, e, args); err != nil {
			t.Fatalf("xenagentctl %q: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	must("call", "hosting.vm.create_from", `{"datacenter_id": 1, "hostname": "web1", "memory": 256}`, `{"name": "sys1"}`, strconv.FormatInt(image, 10), "-wait")
	today := time.Now().UTC().Format(time.DateOnly)
	for _, tc := range []struct {
		args   []string
		listed bool
	}{
		{[]string{"--can-snapshot", "true"}, true},
		{[]string{"-can-snapshot", "false"}, false},
		{[]string{"--date-created", today}, true},
		{[]string{"--date-created", "2000-01-01"}, false},
		{[]string{"--can-snapshot", "true", "--date-created", today}, true},
	} {
		out := must(append([]string{"disk", "list"}, tc.args...)...)
		if strings.Contains(out, "sys1") != tc.listed {
			t.Errorf("disk list %q (want sys1 listed: %v):\n%s", tc.args, tc.listed, out)
		}
	}
	if out := must("disk", "list", "--can-snapshot", "true", "-o", "json"); !strings.Contains(out, `"can_snapshot": true`) {
		t.Errorf("disk list --can-snapshot true -o json:\n%s", out)
	}
}
