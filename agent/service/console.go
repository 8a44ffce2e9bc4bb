package service

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/token"
)

// ConsolePurpose is the token purpose of console links (agent/console
// redeems them).
const ConsolePurpose = "console"

// ConsoleTTL is how long a console link opens a session: long enough
// to click it, short enough that a leaked one is worth little.
const ConsoleTTL = 2 * time.Minute

// consoleLinks is what minting console links needs.
type consoleLinks struct {
	tokens *token.Issuer
	base   string // public URL of the agent, without a trailing slash
}

// SetConsole lets the service mint console links: tokens from tokens,
// URLs under publicURL (where clients reach the agent, e.g.
// https://host:8080). Without it ConsoleLink refuses and vm.info's
// console_url stays empty.
func (s *Service) SetConsole(tokens *token.Issuer, publicURL string) error {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("console public URL %q: want http(s)://host[:port]", publicURL)
	}
	s.console = &consoleLinks{tokens: tokens, base: strings.TrimRight(publicURL, "/")}
	return nil
}

// ConsoleLink is a URL opening one console session, until Expires.
type ConsoleLink struct {
	URL     string
	Expires time.Time
}

// ConsoleLink mints a single-use link to VM id's console, for a VM the
// caller owns whose console is active (hosting.vm.update {"console":
// true}) and that runs; the operator may open any VM's console, active
// or not.
func (s *Service) ConsoleLink(c *Caller, id int64) (ConsoleLink, error) {
	if s.console == nil {
		return ConsoleLink{}, Errorf(ObjVM, KindUnavailable, "console: this agent serves no console (no public URL configured)")
	}
	var v store.VM
	var err error
	s.st.View(func(tx *store.Tx) { v, err = vmFor(tx, c, id) })
	if err != nil {
		return ConsoleLink{}, err
	}
	if !c.Operator && v.Console != 1 {
		return ConsoleLink{}, Errorf(ObjVM, KindConflict, `console: not active on vm %d: activate it first with hosting.vm.update {"console": true}`, id)
	}
	if v.State != store.VMRunning {
		return ConsoleLink{}, Errorf(ObjVM, KindConflict, "console: vm %d is %s: a console needs a running vm", id, v.State)
	}
	tok, g, err := s.console.tokens.Issue(token.Grant{Purpose: ConsolePurpose, VMID: id, Account: c.AccountID, TTL: ConsoleTTL, SingleUse: true})
	if err != nil {
		return ConsoleLink{}, Errorf(ObjVM, KindInternal, "console: issuing a token: %v", err)
	}
	return ConsoleLink{URL: s.console.base + "/console/" + tok, Expires: g.Expires}, nil
}

// ConsoleRight says whether account (0: the operator) may keep VM id's
// console open now, and the VM's hostname. agent/console asks it when a
// session opens and every second while it runs: a console deactivated,
// a VM deleted or given to another account ends the session with this
// message. A deactivated console's tokens are revoked too.
func (s *Service) ConsoleRight(id, account int64) (string, error) {
	var v store.VM
	var ok bool
	s.st.View(func(tx *store.Tx) { v, ok = tx.VM(id) })
	switch {
	case !ok:
		return "", Errorf(ObjVM, KindNotFound, "console: vm %d does not exist (deleted?)", id)
	case account != 0 && v.AccountID != account:
		return "", Errorf(ObjVM, KindNotFound, "console: vm %d does not exist (deleted?)", id)
	case account != 0 && v.Console != 1:
		if s.console != nil {
			s.console.tokens.Revoke(ConsolePurpose, id)
		}
		return "", Errorf(ObjVM, KindConflict, `console: deactivated on vm %d (hosting.vm.update {"console": true} activates it)`, id)
	}
	return v.Hostname, nil
}
