package token

import (
	"errors"
	"testing"
	"time"
)

func TestRedeemRules(t *testing.T) {
	now := time.Unix(1000, 0)
	is := NewIssuer(Limits{})
	is.now = func() time.Time { return now }
	single, _, err := is.Issue(Grant{Purpose: "console", VMID: 1, Account: 7, TTL: time.Minute, SingleUse: true})
	if err != nil {
		t.Fatal(err)
	}
	multi, _, _ := is.Issue(Grant{Purpose: "graph", VMID: 1, Account: 7, TTL: time.Minute})
	if _, err := is.Peek("console", single); err != nil {
		t.Fatalf("peek: %v", err)
	}
	g, err := is.Redeem("console", single)
	if err != nil || g.VMID != 1 || g.Account != 7 {
		t.Fatalf("redeem: %+v %v", g, err)
	}
	for _, tc := range []struct {
		name, purpose, tok string
		want               error
	}{
		{"reused", "console", single, ErrUsed},
		{"other purpose", "console", multi, ErrPurpose},
		{"unknown", "console", "nope", ErrUnknown},
	} {
		if _, err := is.Redeem(tc.purpose, tc.tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	for range 3 { // multi-use until it expires
		if _, err := is.Redeem("graph", multi); err != nil {
			t.Fatalf("multi-use: %v", err)
		}
	}
	now = now.Add(time.Minute)
	if _, err := is.Redeem("graph", multi); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestRevokeAndBounds(t *testing.T) {
	is := NewIssuer(Limits{PerAccount: 3, Total: 5})
	var first string
	for i := range 4 {
		tok, _, _ := is.Issue(Grant{Purpose: "console", VMID: 9, Account: 1, TTL: time.Hour})
		if i == 0 {
			first = tok
		}
	}
	if _, err := is.Peek("console", first); !errors.Is(err, ErrUnknown) {
		t.Fatalf("the account's oldest token should have been evicted: %v", err)
	}
	for range 4 {
		is.Issue(Grant{Purpose: "console", VMID: 10, Account: 2, TTL: time.Hour})
	}
	if n := is.Len(); n != 5 {
		t.Fatalf("kept %d tokens, want the total bound 5", n)
	}
	is.Revoke("console", 9)
	for _, e := range is.tokens {
		if e.grant.VMID == 9 {
			t.Fatal("revoked VM's token kept")
		}
	}
}

// At the bound, expired tokens go before live ones: a page's hour-long
// reconnect token must not be pushed out by two-minute links that are
// already dead (the sweep skips small maps).
func TestBoundDropsExpiredFirst(t *testing.T) {
	now := time.Unix(1000, 0)
	is := NewIssuer(Limits{PerAccount: 4, Total: 5})
	is.now = func() time.Time { return now }
	long, _, _ := is.Issue(Grant{Purpose: "console", VMID: 1, Account: 7, TTL: time.Hour, SingleUse: true})
	other, _, _ := is.Issue(Grant{Purpose: "console", VMID: 2, Account: 8, TTL: time.Hour, SingleUse: true})
	for range 3 {
		is.Issue(Grant{Purpose: "console", VMID: 1, Account: 7, TTL: 2 * time.Minute, SingleUse: true})
	}
	now = now.Add(3 * time.Minute)
	is.Issue(Grant{Purpose: "console", VMID: 1, Account: 7, TTL: 2 * time.Minute, SingleUse: true})
	if _, err := is.Peek("console", long); err != nil {
		t.Fatalf("the live token was evicted while expired ones were kept: %v", err)
	}
	// The total bound: two dead tokens of account 9, then account 10's.
	for range 2 {
		is.Issue(Grant{Purpose: "console", VMID: 3, Account: 9, TTL: time.Minute, SingleUse: true})
	}
	now = now.Add(3 * time.Minute)
	is.Issue(Grant{Purpose: "console", VMID: 4, Account: 10, TTL: time.Hour, SingleUse: true})
	for name, tok := range map[string]string{"account 7's": long, "account 8's": other} {
		if _, err := is.Peek("console", tok); err != nil {
			t.Errorf("%s live token was evicted at the total bound while expired ones were kept: %v", name, err)
		}
	}
}
