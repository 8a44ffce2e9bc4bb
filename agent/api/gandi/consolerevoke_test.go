package gandi

import (
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/console/consoletest"
)

// Deactivating a console revokes its links even when no session is
// open: a link (or a page's hour-long reconnect token) handed out before
// must not open the console again once it is reactivated.
func TestConsoleDeactivationRevokesIdleLinks(t *testing.T) {
	a := newAgent(t, true)
	vmID := a.createVM(a.alice, "idle1")
	a.serveConsoles(loopConsole{})
	a.setConsole(a.alice, vmID, true)
	// A session hands its page a reconnect token, then ends.
	s := consoletest.Dial(t, a.mustCall(a.alice, "hosting.vm.console", vmID).(map[string]any)["url"].(string))
	h := s.Frame("hello")
	s.Conn.CloseNow()
	link := a.mustCall(a.alice, "hosting.vm.console", vmID).(map[string]any)["url"].(string)
	reconnect := link[:strings.LastIndex(link, "/")+1] + h["reconnect"].(string)

	a.setConsole(a.alice, vmID, false)
	a.setConsole(a.alice, vmID, true)
	for name, u := range map[string]string{"link": link, "reconnect token": reconnect} {
		c := consoletest.Dial(t, u)
		var f []map[string]any
		waitFor(t, func() bool { f = c.Frames(); return len(f) > 0 })
		if m, _ := f[0]["message"].(string); f[0]["type"] != "error" || !strings.Contains(m, "unknown") {
			t.Errorf("%s minted before the deactivation: first frame %v, want an error saying it is unknown (revoked)", name, f[0])
		}
	}
}
