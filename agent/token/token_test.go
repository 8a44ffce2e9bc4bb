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
