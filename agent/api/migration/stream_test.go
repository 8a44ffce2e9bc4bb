package migration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/ops"
	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/transfer"
	"github.com/xenagent/xenagent/agent/workflow"
)

// counted is a request body that reports what is read of it.
type counted struct {
	io.ReadCloser
	read func(n int64)
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.read(int64(n))
	return n, err
}

// diskStream is the disk id of a disk stream (PUT /migration/v1/disk/ID),
// "" for any other request.
func diskStream(r *http.Request) string {
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/disk/") {
		return ""
	}
	return path.Base(r.URL.Path)
}

// randomMiB is n MiB of data that does not compress.
func randomMiB(t *testing.T, n int) []byte {
	b := make([]byte, n<<20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeAt writes b at off of a volume file.
func writeAt(t *testing.T, file string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// readAt reads n bytes at off of a volume file.
func readAt(t *testing.T, file string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// moved waits for the move and its target side to end DONE, and returns
// the disks on the target.
func moved(t *testing.T, src, dst *agent, op int64, vmID int64) []store.Disk {
	t.Helper()
	if got := src.wait(op); got.Step != store.StepDone || got.LastError != "" {
		t.Fatalf("vm_migrate ended %s: %q", got.Step, got.LastError)
	}
	if got := dst.wait(dst.incoming(vmID).ID); got.Step != store.StepDone {
		t.Fatalf("vm_migrate_in ended %s: %s", got.Step, got.LastError)
	}
	_, disks, _, _, ok := dst.vm(vmID)
	if !ok {
		t.Fatalf("%s holds no vm %d after the move", dst.name, vmID)
	}
	return disks
}

// A sparse disk moves as its data: a 1 GiB data disk holding 3 MiB puts
// about those 3 MiB on the wire (counted at the target's handler), and
// the target's volume stays as sparse. What the VM writes while the
// precopy runs arrives with the delta, zeros as zeros: 1 MiB written,
// 1 MiB of data overwritten with zeros.
func TestSparseDiskMovesItsData(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVMWith(1024)
	_, disks, _, _, _ := a.vm(vmID)
	data, file := disks[1], a.vols.Path(disks[1].Volume)
	const mib = 1 << 20
	blocks := map[int64][]byte{0: randomMiB(t, 1), 300 * mib: randomMiB(t, 1), 1023 * mib: randomMiB(t, 1)}
	for off, b := range blocks {
		writeAt(t, file, b, off)
	}
	later := randomMiB(t, 1)
	var mu sync.Mutex
	wire := map[string]int64{}
	var once sync.Once
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		id := diskStream(r)
		if id == "" {
			return true
		}
		r.Body = &counted{r.Body, func(n int64) { mu.Lock(); wire[id] += n; mu.Unlock() }}
		if id == strconv.FormatInt(data.ID, 10) {
			// The precopy reads the snapshot: the VM writes on meanwhile.
			once.Do(func() {
				writeAt(t, file, later, 600*mib)
				writeAt(t, file, make([]byte, mib), 300*mib)
			})
		}
		return true
	})
	op := migrate(t, a, b, vmID)
	got := moved(t, a, b, op.ID, vmID)

	mu.Lock()
	onWire := wire[strconv.FormatInt(data.ID, 10)]
	mu.Unlock()
	t.Logf("the 1 GiB data disk put %d bytes on the wire (%v)", onWire, wire)
	// 3 MiB of precopy, the 1 MiB written in the delta (the zeroed MiB a
	// marker), and the streams' framing.
	if onWire < 4*mib || onWire > 4*mib+256<<10 {
		t.Fatalf("the data disk put %d bytes on the wire, want about its 4 MiB of data, not its %d", onWire, data.SizeMB<<20)
	}
	dst := b.vols.Path(got[1].Volume)
	blocks[300*mib], blocks[600*mib] = make([]byte, mib), later
	for off, want := range blocks {
		if !bytes.Equal(readAt(t, dst, off, mib), want) {
			t.Fatalf("target: the MiB at %d differs from the source's", off)
		}
	}
	ext, err := b.vols.Allocated(context.Background(), got[1].Volume)
	if err != nil {
		t.Fatal(err)
	}
	if n := host.ExtentBytes(ext); n > 3*mib+64<<10 {
		t.Fatalf("target: the volume holds %d bytes (%v), want the 3 MiB of data only", n, ext)
	}
	var out store.Operation
	a.st.View(func(tx *store.Tx) { out, _ = tx.Operation(op.ID) })
	p, err := ops.ProgressOf[workflow.VMMigrateProgress](out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vm_migrate: %d of %d bytes sent (precopy %d)", p.Sent, p.Total, p.Precopy)
	if p.Sent != p.Total || p.Sent < 5*mib || p.Sent > 6*mib {
		t.Fatalf("vm_migrate's progress %+v: want the extents sent (3 MiB precopy, 2 MiB delta, and the system disk's)", p)
	}
}

// A connection cut in the middle of a disk's stream resumes: the source
// sends again from the last chunk the target journalled, not from the
// start, within the same step, and the disk arrives whole.
func TestStreamCutResumes(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	vmID := a.createVMWith(64)
	_, disks, _, _, _ := a.vm(vmID)
	data, file := disks[1], a.vols.Path(disks[1].Volume)
	const mib = 1 << 20
	content := randomMiB(t, 48)
	writeAt(t, file, content, 0)
	var onWire atomic.Int64
	var streams atomic.Int32
	var cut atomic.Bool
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if diskStream(r) != strconv.FormatInt(data.ID, 10) {
			return true
		}
		streams.Add(1)
		conn := connOf(r)
		r.Body = &counted{r.Body, func(n int64) {
			if onWire.Add(n) > 20*mib && cut.CompareAndSwap(false, true) {
				conn.Close() // the network drops the connection
			}
		}}
		return true
	})
	op := migrate(t, a, b, vmID)
	got := moved(t, a, b, op.ID, vmID)
	t.Logf("cut %v; %d streams; %d bytes on the wire for 48 MiB of data", cut.Load(), streams.Load(), onWire.Load())
	if !cut.Load() || streams.Load() < 3 {
		t.Fatalf("cut %v, %d streams: want the precopy's cut and resumed, then the delta", cut.Load(), streams.Load())
	}
	// Sent again from the start, the precopy would put 68 MiB on the
	// wire; resumed, what was verified before the cut is not resent.
	if n := onWire.Load(); n < 48*mib || n > 56*mib {
		t.Fatalf("the data disk put %d bytes on the wire, want its 48 MiB and at most a few chunks resent", n)
	}
	if !bytes.Equal(readAt(t, b.vols.Path(got[1].Volume), 0, 48*mib), content) {
		t.Fatal("target: the data disk's content differs from the source's")
	}
}

// The agent's Limiter caps what its moves send: 16 MiB of data at 8 MiB/s
// take two seconds (less the bucket's quarter-second burst), and the
// move's progress showed about that rate while it ran.
func TestMoveThrottled(t *testing.T) {
	a, b := newAgent(t, "a"), newAgent(t, "b")
	a.client.Limiter = transfer.NewLimiter(8 << 20)
	vmID := a.createVMWith(32)
	_, disks, _, _, _ := a.vm(vmID)
	writeAt(t, a.vols.Path(disks[1].Volume), randomMiB(t, 16), 0)
	var rate atomic.Value
	b.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		var op store.Operation
		a.st.View(func(tx *store.Tx) {
			tx.EachOperation(func(o *store.Operation) bool {
				if o.Type == "vm_migrate" {
					op = *o
				}
				return true
			})
		})
		if p, err := ops.ProgressOf[workflow.VMMigrateProgress](op); err == nil && p.Rate > 0 {
			rate.Store(p.Rate)
		}
		return true
	})
	start := time.Now()
	op := migrate(t, a, b, vmID)
	moved(t, a, b, op.ID, vmID)
	took := time.Since(start)
	r, _ := rate.Load().(float64)
	t.Logf("16 MiB at 8 MiB/s moved in %s; the progress showed %.1f MiB/s", took.Round(time.Millisecond), r/(1<<20))
	if took < 1700*time.Millisecond {
		t.Fatalf("the move took %s: the limiter did not hold it to 8 MiB/s", took)
	}
	if r < 4<<20 || r > 12<<20 {
		t.Fatalf("the progress showed %.0f bytes/s, want about 8 MiB/s", r)
	}
}
