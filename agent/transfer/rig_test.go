package transfer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// rig is a Receiver behind an httptest server over loopback, its disks
// files in a temporary directory, as the target's migration handler
// mounts it.
type rig struct {
	t     *testing.T
	dir   string
	srv   *httptest.Server
	recv  *Receiver
	mu    sync.Mutex
	disks map[string]*rigDisk
}

type rigDisk struct {
	path    string
	size    int64
	journal Journal
	zeroAt  bool // open the volume with ZeroAt (punching holes)
	upTo    bool // size bounds the stream's (Disk.UpTo), a file grown by it

	mu       sync.Mutex
	progress []Progress
}

func newRig(t *testing.T, cfg ReceiverConfig) *rig {
	t.Helper()
	return newRigWith(t, cfg, func(*http.Server) {})
}

// newRigWith lets set sets the server's limits before it starts.
func newRigWith(t *testing.T, cfg ReceiverConfig, set func(*http.Server)) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), disks: map[string]*rigDisk{}}
	recv, err := NewReceiver(r, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.recv = recv
	mux := http.NewServeMux()
	mux.Handle(DiskPath, recv)
	r.srv = httptest.NewUnstartedServer(mux)
	set(r.srv.Config)
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// restart replaces the Receiver, as a target agent restarted with its
// journal and volumes does.
func (r *rig) restart(cfg ReceiverConfig) {
	r.t.Helper()
	recv, err := NewReceiver(r, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.t.Fatal(err)
	}
	r.recv = recv
	mux := http.NewServeMux()
	mux.Handle(DiskPath, recv)
	r.srv.Config.Handler = mux
}

// disk expects a disk of size bytes: a fresh sparse file.
func (r *rig) disk(id string, size int64) *rigDisk {
	r.t.Helper()
	d := &rigDisk{path: filepath.Join(r.dir, "target-"+id), size: size, journal: &MemJournal{}}
	f, err := os.Create(d.path)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		r.t.Fatal(err)
	}
	f.Close()
	r.mu.Lock()
	r.disks[id] = d
	r.mu.Unlock()
	return d
}

func (r *rig) Disk(_ context.Context, id string) (Disk, error) {
	r.mu.Lock()
	d := r.disks[id]
	r.mu.Unlock()
	if d == nil {
		return Disk{}, ErrUnknownDisk
	}
	disk := Disk{Size: d.size}
	if d.upTo {
		disk = Disk{UpTo: d.size}
	}
	return Disk{Size: disk.Size, UpTo: disk.UpTo, Journal: d.journal,
		Open: func(context.Context) (Volume, error) {
			f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
			if err != nil || !d.zeroAt {
				return f, err
			}
			return holeFile{f}, nil
		},
		Progress: func(p Progress) { d.mu.Lock(); d.progress = append(d.progress, p); d.mu.Unlock() },
	}, nil
}

// target is the disk's HTTPTarget through client (nil: a plain one).
func (r *rig) target(id string, client *http.Client) *HTTPTarget {
	if client == nil {
		client = r.srv.Client()
	}
	return NewHTTPTarget(client, r.srv.URL+"/", id, "test")
}

// holeFile zeroes by punching holes (the file backend's receive side).
type holeFile struct{ *os.File }

func (h holeFile) ZeroAt(off, n int64) error { return punchHole(h.File, off, n) }

// source is a sparse file of size bytes holding data at extents: random
// bytes, or compressible text, or zeros, as fill makes them.
type source struct {
	path    string
	size    int64
	extents []Extent
}

type fill int

const (
	random fill = iota
	text
	zeros
)

func newSource(t testing.TB, size int64, extents []Extent, how fill, seed uint64) *source {
	t.Helper()
	s := &source{path: filepath.Join(t.TempDir(), "source"), size: size, extents: extents}
	f, err := os.Create(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	s.write(t, f, extents, how, seed)
	return s
}

func (s *source) write(t testing.TB, f *os.File, extents []Extent, how fill, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, e := range extents {
		b := make([]byte, e.Len)
		switch how {
		case random:
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case text:
			for i := 0; i < len(b); i += 16 {
				copy(b[i:], []byte("xenagent moves "[rng.IntN(3):]))
			}
		}
		if _, err := f.WriteAt(b, e.Off); err != nil {
			t.Fatal(err)
		}
	}
}

// change writes over extents of the source (a guest writing after the
// snapshot).
func (s *source) change(t *testing.T, extents []Extent, how fill, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(s.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s.write(t, f, extents, how, seed)
}

func (s *source) open(t testing.TB) *os.File {
	t.Helper()
	f, err := os.Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sameContent fails t unless the two files hold the same bytes.
func sameContent(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != len(y) {
		t.Fatalf("%s is %d bytes, %s %d", a, len(x), b, len(y))
	}
	if !bytes.Equal(x, y) {
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("%s and %s differ first at byte %d", a, b, i)
			}
		}
	}
}

// cutClient is a client whose first connections are cut after some bytes
// written (the network between the agents failing mid-stream).
func cutClient(cuts ...int64) (*http.Client, *atomic.Int32) {
	var n atomic.Int32
	var mu sync.Mutex
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if len(cuts) == 0 {
			return c, nil
		}
		left := cuts[0]
		cuts = cuts[1:]
		n.Add(1)
		return &cutConn{Conn: c, left: left}, nil
	}}
	return &http.Client{Transport: tr}, &n
}

type cutConn struct {
	net.Conn
	left int64
}

func (c *cutConn) Write(p []byte) (int, error) {
	if int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		return c.Conn.Write(p)
	}
	n, _ := c.Conn.Write(p[:c.left])
	c.left = 0
	c.Conn.Close()
	return n, io.ErrClosedPipe
}
