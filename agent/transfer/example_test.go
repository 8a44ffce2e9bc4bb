package transfer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/xenagent/xenagent/agent/transfer"
)

// oneDisk is a target expecting one disk, a file.
type oneDisk struct {
	path    string
	size    int64
	journal transfer.MemJournal
}

func (o *oneDisk) Disk(_ context.Context, id string) (transfer.Disk, error) {
	if id != "7" {
		return transfer.Disk{}, transfer.ErrUnknownDisk
	}
	return transfer.Disk{Size: o.size, Journal: &o.journal,
		Open: func(context.Context) (transfer.Volume, error) { return os.OpenFile(o.path, os.O_WRONLY, 0) }}, nil
}

// A pre-copy of a snapshot's allocated extents, then the delta of what
// changed since, to a receiver over HTTP.
func Example() {
	dir, _ := os.MkdirTemp("", "transfer-example-")
	defer os.RemoveAll(dir)
	const size = 64 << 20
	src, _ := os.Create(filepath.Join(dir, "snapshot"))
	src.Truncate(size)
	src.WriteAt([]byte("boot sector"), 0)
	src.WriteAt(make([]byte, 1<<20), 32<<20) // allocated, but zeros
	dst := &oneDisk{path: filepath.Join(dir, "volume"), size: size}
	os.WriteFile(dst.path, nil, 0o600)
	os.Truncate(dst.path, size)

	// The target: the Receiver behind the ticket check, on DiskPath.
	rx, _ := transfer.NewReceiver(dst, transfer.ReceiverConfig{}, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle(transfer.DiskPath, rx)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The source: a pass per Send; a cut or refused stream resumes inside.
	target := transfer.NewHTTPTarget(srv.Client(), srv.URL, "7", "the-ticket")
	extents := []transfer.Extent{{Off: 0, Len: 4096}, {Off: 32 << 20, Len: 1 << 20}}
	pre, err := transfer.Send(context.Background(), src, extents, target,
		transfer.Options{Pass: "precopy", Size: size, Rate: 100 << 20})
	fmt.Println(err, pre.Have.Complete, pre.Have.Done, pre.Wire < 8192)

	src.WriteAt([]byte("changed"), 4096)
	delta, err := transfer.Send(context.Background(), src, []transfer.Extent{{Off: 4096, Len: 4096}}, target,
		transfer.Options{Pass: "delta", Base: "precopy", Size: size})
	fmt.Println(err, delta.Have.Complete, delta.Sent)
	// Output:
	// <nil> true 1052672 true
	// <nil> true 4096
}
