package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/coder/websocket"
	"golang.org/x/term"
)

// escapeKey leaves the console: Ctrl-], as telnet and virsh console.
const escapeKey = 0x1d

const consoleHelp = `usage: xenagentctl console VM_ID

Opens the VM's serial console (Xen PV hvc0, QEMU's serial) in this
terminal, raw: every key goes to the guest, Ctrl-] leaves. The role
(writer, or reader whose keys are dropped while another client writes)
and the session's end (the VM stopped, the console deactivated) are
printed on stderr. An account's key needs the console activated
(hosting.vm.update {"console": true}) on one of its running VMs; the
operator's key opens any running VM's console.

examples:
  xenagentctl console 12
  XENAGENT_KEY=$(cat /var/lib/xenagent/apikey) xenagentctl console 12
`

func init() {
	register(&verb{name: "console", summary: "console VM_ID	the VM's serial console; Ctrl-] leaves", help: consoleHelp,
		run: func(ctx context.Context, e *env, a []string) error {
			return runConsole(ctx, e.c, e.c.hc, a, os.Stdin, os.Stdout, os.Stderr)
		}})
}

// caller is the XML-RPC call a console needs (hosting.vm.console).
type caller interface {
	call(ctx context.Context, method string, params ...any) (any, error)
}

// runConsole is "console VM_ID": it asks the agent for a console link,
// then bridges the terminal to its WebSocket until Ctrl-] or the end.
func runConsole(ctx context.Context, c caller, hc *http.Client, args []string, stdin *os.File, stdout, stderr io.Writer) error {
	id, err := ids(args)
	if err != nil || len(id) != 1 {
		return &usageError{"console: one VM_ID is required (xenagentctl help console)"}
	}
	v, err := c.call(ctx, "hosting.vm.console", id[0])
	if err != nil {
		return err
	}
	link, _ := v.(map[string]any)["url"].(string)
	if link == "" {
		return errors.New("console: the agent returned no url")
	}
	// The session outlives the command's timeout: it ends at Ctrl-] or
	// when the agent closes it.
	ctx = context.WithoutCancel(ctx)
	wsURL := "ws" + strings.TrimPrefix(strings.TrimRight(link, "/"), "http") + "/ws"
	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return fmt.Errorf("console: connecting to %s: %w", wsURL, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	if term.IsTerminal(int(stdin.Fd())) {
		old, err := term.MakeRaw(int(stdin.Fd()))
		if err != nil {
			return fmt.Errorf("console: raw terminal: %w", err)
		}
		defer term.Restore(int(stdin.Fd()), old)
	}
	// In raw mode "\n" does not return the carriage.
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "\r\n[xenagentctl] "+format+"\r\n", a...) }

	done := make(chan error, 2)
	go func() { done <- typeKeys(ctx, conn, stdin) }()
	go func() { done <- showOutput(ctx, conn, stdout, say) }()
	err = <-done
	conn.Close(websocket.StatusNormalClosure, "")
	if errors.Is(err, errLeft) {
		say("left the console")
		return nil
	}
	return err
}

var errLeft = errors.New("left")

// typeKeys sends stdin to the console until Ctrl-].
func typeKeys(ctx context.Context, conn *websocket.Conn, stdin io.Reader) error {
	buf := make([]byte, 1024)
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			b := buf[:n]
			i := strings.IndexByte(string(b), escapeKey)
			if i >= 0 {
				b = b[:i]
			}
			if len(b) > 0 {
				if werr := conn.Write(ctx, websocket.MessageBinary, b); werr != nil {
					return werr
				}
			}
			if i >= 0 {
				return errLeft
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Input ended (a pipe): keep showing output until the end.
				<-ctx.Done()
			}
			return err
		}
	}
}

// showOutput writes the console's output and tells the protocol's
// messages; a status (the VM stopped) ends it cleanly, an error with it.
func showOutput(ctx context.Context, conn *websocket.Conn, stdout io.Writer, say func(string, ...any)) error {
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil
			}
			return fmt.Errorf("console: %w", err)
		}
		if typ == websocket.MessageBinary {
			stdout.Write(b)
			continue
		}
		var m struct {
			Type, Hostname, State, Message string
			VMID                           int64 `json:"vm_id"`
			Writer                         bool
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		role := map[bool]string{true: "writer", false: "reader (another client is typing; your keys are dropped)"}
		switch m.Type {
		case "hello":
			say("console of VM %d (%s), as %s; Ctrl-] leaves", m.VMID, m.Hostname, role[m.Writer])
		case "writer":
			say("now %s", role[m.Writer])
		case "status":
			say("%s", m.Message)
			return nil
		case "error":
			return fmt.Errorf("console refused: %s", m.Message)
		}
	}
}
