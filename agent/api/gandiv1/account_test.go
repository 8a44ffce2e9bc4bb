package gandiv1

import (
	"context"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// A share is the service's share definition, not a constant of the face:
// vm_create and vm_update turn shares into memory with it, vm_info and
// hosting_account_info count in it, and hosting_account_info reports
// the account's granted, used and available shares and resources as the
// quotas give them (the same numbers as hosting.account.info), also
// after the operator changes them at run time.
func TestSharesFromTheQuotas(t *testing.T) {
	share := service.Resources{Servers: 1, Cores: 1, MemoryMB: 512, DiskMB: 10000, Bandwidth: 1e10, IPs: 2}
	a := newAgent(t, func(c *service.Config) { c.Quotas = service.Quotas{Share: share, Shares: 4} })
	s := a.login(aliceLogin, alicePassword)

	vmID := a.mustCall("vm_create", s, "shares1", "my_password", a.image, int64(2), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))
	if info := a.mustCall("vm_info", s, vmID).(map[string]any); info["shares"] != int64(2) || info["memory"] != int64(1024) {
		t.Fatalf("vm_info: shares %v memory %v, want 2 shares of 512 MB", info["shares"], info["memory"])
	}

	acct := a.mustCall("hosting_account_info", s).(map[string]any)
	for k, want := range map[string]any{"shares": int64(4), "shares_used": int64(2), "shares_available": int64(2), "rating_enabled": false} {
		if acct[k] != want {
			t.Errorf("hosting_account_info %s = %v (%T), want %v", k, acct[k], acct[k], want)
		}
	}
	def := acct["share_definition"].(map[string]any)
	if def["memory"] != int64(512) || def["cores"] != 1.0 || def["disk"] != int64(10000) || def["ips"] != int64(2) || def["servers"] != int64(1) {
		t.Errorf("share_definition = %v", def)
	}
	res := acct["resources"].(map[string]any)
	want := map[string]map[string]any{
		"granted":   {"shares": int64(4), "servers": int64(4), "memory": int64(2048), "ips": int64(8)},
		"used":      {"shares": int64(2), "servers": int64(1), "memory": int64(1024), "ips": int64(1)},
		"available": {"shares": int64(2), "servers": int64(3), "memory": int64(1024), "ips": int64(7)},
	}
	for part, keys := range want {
		m := res[part].(map[string]any)
		for _, k := range []string{"servers", "cores", "memory", "disk", "bandwidth", "ips", "shares"} {
			if _, ok := m[k]; !ok {
				t.Errorf("resources.%s.%s missing", part, k)
			}
		}
		for k, w := range keys {
			if m[k] != w {
				t.Errorf("resources.%s.%s = %v, want %v", part, k, m[k], w)
			}
		}
	}
	// The same numbers as the service's (hosting.account.info's).
	sa, err := a.svc.Account(&service.Caller{AccountID: acct["id"].(int64)})
	if err != nil || sa.Shares != 4 || sa.UsedShares != 2 || sa.Available.MemoryMB != 1024 {
		t.Errorf("service.Account = %+v, %v", sa, err)
	}

	// The operator grants more at run time: v1 reads it at once.
	eight := int64(8)
	if _, err := a.svc.UpdateAccount(context.Background(), &service.Caller{Operator: true}, sa.ID, service.AccountUpdate{Shares: &eight}); err != nil {
		t.Fatal(err)
	}
	acct = a.mustCall("hosting_account_info", s).(map[string]any)
	if acct["shares"] != int64(8) || acct["shares_available"] != int64(6) {
		t.Errorf("after the operator's update: shares %v available %v", acct["shares"], acct["shares_available"])
	}

	// In the rating model shares still say how much memory a VM asks
	// for: the definition is reported, the account has no share count.
	rating := service.ModelRating
	if _, err := a.svc.UpdateAccount(context.Background(), &service.Caller{Operator: true}, sa.ID, service.AccountUpdate{Model: &rating}); err != nil {
		t.Fatal(err)
	}
	acct = a.mustCall("hosting_account_info", s).(map[string]any)
	if acct["rating_enabled"] != true || acct["shares"] != int64(0) || acct["share_definition"].(map[string]any)["memory"] != int64(512) {
		t.Errorf("rating model: rating_enabled %v shares %v share_definition %v", acct["rating_enabled"], acct["shares"], acct["share_definition"])
	}
}

// What would exceed the account's memory grant is refused with v1's quota
// fault (5OOO70), said in shares, the unit of the call, and changes
// nothing; within the grant it passes.
func TestSharesQuotaFault(t *testing.T) {
	share := service.Resources{Servers: 1, Cores: 1, MemoryMB: 512, DiskMB: 10000, Bandwidth: 1e10, IPs: 2}
	a := newAgent(t, func(c *service.Config) { c.Quotas = service.Quotas{Share: share, Shares: 4} })
	s := a.login(aliceLogin, alicePassword)
	vmID := a.mustCall("vm_create", s, "quota1", "my_password", a.image, int64(2), int64(1), map[string]any{}).(int64)
	a.mustDone(s, a.lastOp(s, "vm_create"))

	tests := []struct {
		name, method, element string
		params                []any
	}{
		{"vm_create past the grant", "vm_create", "shares: 3", []any{"quota2", "my_password", a.image, int64(3), int64(1), map[string]any{}}},
		{"vm_update past the grant", "vm_update", "specs.shares: 5", []any{vmID, map[string]any{"shares": int64(5), "vm_max_memory": int64(4096)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.mustCall("operation_list", s, map[string]any{"state": "ALL"}).([]any)
			_, f := a.call(tt.method, append([]any{s}, tt.params...)...)
			if f == nil || f.Code != 510070 {
				t.Fatalf("%s: %v, want fault 510070 (vm, quota)", tt.method, f)
			}
			t.Log(f.Message)
			if !strings.Contains(f.Message, "MB of memory") || !strings.HasSuffix(f.Message, "["+tt.element+"]") {
				t.Errorf("fault string %q does not say it in shares [%s]", f.Message, tt.element)
			}
			if after := a.mustCall("operation_list", s, map[string]any{"state": "ALL"}).([]any); len(after) != len(before) {
				t.Errorf("a refused call made %d operations", len(after)-len(before))
			}
		})
	}
	if vms := a.mustCall("vm_list", s).([]any); len(vms) != 1 {
		t.Errorf("vm_list: %v", vms)
	}
	// Exactly the grant passes.
	a.mustDone(s, a.mustCall("vm_update", s, vmID, map[string]any{"shares": int64(4)}).(int64))
	if info := a.mustCall("vm_info", s, vmID).(map[string]any); info["shares"] != int64(4) || info["memory"] != int64(2048) {
		t.Errorf("vm_info after vm_update: %v", info)
	}
}

// Shares granted, used and available agree: available is granted minus
// used, never below 0. An account without a share count (its grant is
// not counted in shares) has 0 of all three, whatever it holds, the
// same in hosting.account.info (service.Account); once the operator
// gives it a count below what it holds, used says so and available is 0.
func TestSharesWithoutACount(t *testing.T) {
	share := service.Resources{Servers: 1, Cores: 1, MemoryMB: 512, DiskMB: 10000, Bandwidth: 1e10, IPs: 2}
	a := newAgent(t, func(c *service.Config) { c.Quotas = service.Quotas{Share: share} })
	s := a.login(aliceLogin, alicePassword)
	a.mustCall("vm_create", s, "noshare1", "my_password", a.image, int64(2), int64(1), map[string]any{})
	a.mustDone(s, a.lastOp(s, "vm_create"))

	tests := []struct {
		name                 string
		count                int64 // the operator's share count; 0 none
		granted, used, avail int64
	}{
		{"no share count", 0, 0, 0, 0},
		{"a count below what it holds", 1, 1, 2, 0},
		{"a count above", 5, 5, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := a.mustCall("hosting_account_info", s).(map[string]any)["id"].(int64)
			if _, err := a.svc.UpdateAccount(context.Background(), &service.Caller{Operator: true}, id, service.AccountUpdate{Shares: &tt.count}); err != nil && tt.count != 0 {
				t.Fatal(err)
			}
			acct := a.mustCall("hosting_account_info", s).(map[string]any)
			res := acct["resources"].(map[string]any)
			for k, want := range map[string]int64{"shares": tt.granted, "shares_used": tt.used, "shares_available": tt.avail} {
				if acct[k] != want {
					t.Errorf("%s = %v, want %d", k, acct[k], want)
				}
			}
			for part, want := range map[string]int64{"granted": tt.granted, "used": tt.used, "available": tt.avail} {
				if got := res[part].(map[string]any)["shares"]; got != want {
					t.Errorf("resources.%s.shares = %v, want %d", part, got, want)
				}
			}
			sa, err := a.svc.Account(&service.Caller{AccountID: id})
			if err != nil || sa.Shares != tt.granted || sa.UsedShares != tt.used || sa.AvailableShares != tt.avail {
				t.Errorf("service.Account shares %d/%d/%d (%v), want %d/%d/%d", sa.Shares, sa.UsedShares, sa.AvailableShares, err, tt.granted, tt.used, tt.avail)
			}
		})
	}
}
