package store

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// A ticket is kept as written, found by its secret's hash, and a copy
// handed out shares nothing with the stored one; it holds its
// reservation while live only.
func TestTickets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	want := Ticket{ID: 1, SecretHash: "h1", AccountID: 2, VMID: 3, Disks: []TicketDisk{{ID: 4, SizeMB: 5}},
		Ifaces: []TicketIface{{ID: 6, Addr: "10.0.0.9", Version: 4}}, Phase: TicketIssued, Expires: at.Add(time.Hour),
		Received: map[int64]TicketReceive{4: {Pass: "precopy", Done: 7, Digest: []byte{1}}}}
	if err := st.Update(func(tx *Tx) error { tx.PutTicket(want); return nil }); err != nil {
		t.Fatal(err)
	}
	st.View(func(tx *Tx) {
		got, ok := tx.TicketBySecret("h1")
		if !ok || got.VMID != 3 || got.Received[4].Done != 7 {
			t.Fatalf("by secret: %+v, %v", got, ok)
		}
		got.Disks[0].SizeMB, got.Received[4].Digest[0] = 99, 99
		got.Received[4] = TicketReceive{Done: 99}
		again, _ := tx.Ticket(1)
		if again.Disks[0].SizeMB != 5 || again.Received[4].Done != 7 || again.Received[4].Digest[0] != 1 {
			t.Fatal("a copy shares its slices or maps with the stored ticket")
		}
		if _, ok := tx.TicketBySecret("h2"); ok {
			t.Fatal("found a ticket by another secret")
		}
	})
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(func(tx *Tx) {
		if got, ok := tx.Ticket(1); !ok || got.Received[4].Pass != "precopy" || got.Ifaces[0].Addr != "10.0.0.9" {
			t.Fatalf("reopened: %+v", got)
		}
	})
	for _, tt := range []struct {
		phase   string
		expires time.Duration
		live    bool
	}{
		{TicketIssued, time.Hour, true}, {TicketIssued, -time.Second, false},
		{TicketReceiving, -time.Hour, true}, {TicketPrepared, -time.Hour, true},
		{TicketCommitted, time.Hour, false}, {TicketAborted, time.Hour, false},
	} {
		if got := (Ticket{Phase: tt.phase, Expires: at.Add(tt.expires)}).Live(at); got != tt.live {
			t.Errorf("%s expiring in %s: live %v, want %v", tt.phase, tt.expires, got, tt.live)
		}
	}
}
