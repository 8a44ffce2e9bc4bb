package stats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// archive is one ring of consolidated points: Len points of Step each.
type archive struct {
	Step time.Duration
	Len  int
}

// archives are the resolutions kept, finest first: 1 minute for a day,
// 15 minutes for 8 days, 1 hour for 31 days.
var archives = [nArchives]archive{{time.Minute, 1440}, {15 * time.Minute, 768}, {time.Hour, 744}}

const (
	nArchives = 3
	nValues   = 4 // values per point, whatever the block's kind
	pointSize = nValues * 4
	headerLen = 4096
	magic     = "XASTATS1"
	// maxBlocks bounds a file's devices: a VM has at most 26 disks (the
	// seed's position is the 26th) and a few ifaces.
	maxBlocks    = 64
	blockTableAt = 80
	blockEntry   = 16
)

// archiveAt is where archive a begins within a block; blockSize is a
// block's size on disk.
var archiveAt, blockSize = func() ([nArchives]int64, int64) {
	var at [nArchives]int64
	var off int64
	for i, a := range archives {
		at[i] = off
		off += int64(a.Len) * pointSize
	}
	return at, off
}()

// Kind is what a block of a VM's series measures.
type Kind uint8

const (
	// KindVM values: CPU used (in vCPUs: 1 is one vCPU busy all the
	// time), balloon KiB, balloon maximum KiB, vCPU count.
	KindVM Kind = iota
	// KindIface values: bytes/s received and sent by the VM, packets/s
	// received and sent.
	KindIface
	// KindDisk values: bytes/s read and written, requests/s read and
	// written.
	KindDisk
)

func (k Kind) String() string {
	switch k {
	case KindVM:
		return "cpu"
	case KindIface:
		return "iface"
	case KindDisk:
		return "disk"
	}
	return "?"
}

// blockKey names a block: its kind and the store id of its device (the
// VM's id for KindVM).
type blockKey struct {
	Kind Kind
	ID   int64
}

// rrdFile is one VM's series on disk: a 4 KiB header (the archives'
// last bucket and its sample count, the block table), then one block
// per device, each holding every archive's ring of float32 points. Only
// the header and the current points are kept in memory.
type rrdFile struct {
	path   string
	vmID   int64
	last   [nArchives]int64  // bucket number (unix time / step) of the newest point; 0: none
	count  [nArchives]uint32 // samples averaged into it
	blocks []blockKey
	cur    [][nArchives][nValues]float32 // the newest point of each block and archive
}

var errBadFile = errors.New("not a stats file")

// loadRRD reads a file's header and current points.
func loadRRD(path string) (*rrdFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := make([]byte, headerLen)
	if _, err := f.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	if string(h[:8]) != magic {
		return nil, fmt.Errorf("%s: %w", path, errBadFile)
	}
	r := &rrdFile{path: path, vmID: int64(binary.LittleEndian.Uint64(h[8:]))}
	for a := range archives {
		r.last[a] = int64(binary.LittleEndian.Uint64(h[24+a*16:]))
		r.count[a] = binary.LittleEndian.Uint32(h[32+a*16:])
	}
	n := int(binary.LittleEndian.Uint16(h[72:]))
	if n > maxBlocks {
		return nil, fmt.Errorf("%s: %d blocks: %w", path, n, errBadFile)
	}
	for i := 0; i < n; i++ {
		e := h[blockTableAt+i*blockEntry:]
		r.blocks = append(r.blocks, blockKey{Kind: Kind(e[0]), ID: int64(binary.LittleEndian.Uint64(e[8:]))})
	}
	r.cur = make([][nArchives][nValues]float32, n)
	buf := make([]byte, pointSize)
	for i := range r.blocks {
		for a, ar := range archives {
			if r.last[a] == 0 {
				r.cur[i][a] = nanPoint()
				continue
			}
			if _, err := f.ReadAt(buf, r.pointAt(i, a, r.last[a]%int64(ar.Len))); err != nil {
				return nil, fmt.Errorf("%s: reading points: %w", path, err)
			}
			r.cur[i][a] = decodePoint(buf)
		}
	}
	return r, nil
}

func (r *rrdFile) pointAt(block, a int, slot int64) int64 {
	return headerLen + int64(block)*blockSize + archiveAt[a] + slot*pointSize
}

func nanPoint() [nValues]float32 {
	n := float32(math.NaN())
	return [nValues]float32{n, n, n, n}
}

// Values are stored XORed with a NaN's bits, so that zero bytes read as
// NaN: a new block is a hole in a sparse file (no write, no disk used)
// that reads as gaps until points fill it.
const nanBits = 0x7fc00000

func decodePoint(b []byte) (p [nValues]float32) {
	for v := range p {
		p[v] = math.Float32frombits(binary.LittleEndian.Uint32(b[v*4:]) ^ nanBits)
	}
	return p
}

func encodePoint(b []byte, p [nValues]float32) {
	for v := range p {
		binary.LittleEndian.PutUint32(b[v*4:], math.Float32bits(p[v])^nanBits)
	}
}

// header is the used part of the header (the rest of its 4 KiB is
// zeros, room for more blocks).
func (r *rrdFile) header() []byte {
	h := make([]byte, blockTableAt+len(r.blocks)*blockEntry)
	copy(h, magic)
	binary.LittleEndian.PutUint64(h[8:], uint64(r.vmID))
	for a := range archives {
		binary.LittleEndian.PutUint64(h[24+a*16:], uint64(r.last[a]))
		binary.LittleEndian.PutUint32(h[32+a*16:], r.count[a])
	}
	binary.LittleEndian.PutUint16(h[72:], uint16(len(r.blocks)))
	for i, b := range r.blocks {
		e := h[blockTableAt+i*blockEntry:]
		e[0] = byte(b.Kind)
		binary.LittleEndian.PutUint64(e[8:], uint64(b.ID))
	}
	return h
}

// block returns the index of a block, -1 if the file has none.
func (r *rrdFile) block(k blockKey) int {
	for i, b := range r.blocks {
		if b == k {
			return i
		}
	}
	return -1
}

// sample is one round's values for a VM: per block, a point (NaN where
// unknown), and the interval it covers (0: the first after a start).
type sample struct {
	at       time.Time
	interval time.Duration
	points   map[blockKey][nValues]float32
}

// write adds a sample: each archive's current point becomes the mean of
// the samples in its bucket; buckets skipped since the last sample are
// filled with this sample's values when the sample covers them (it is
// a mean over its interval), else left as gaps (NaN). New devices get a
// block, all gaps before now.
func (r *rrdFile) write(f *os.File, s sample) error {
	var grew bool
	for k := range s.points {
		if r.block(k) < 0 && len(r.blocks) < maxBlocks {
			r.blocks = append(r.blocks, k)
			r.cur = append(r.cur, [nArchives][nValues]float32{nanPoint(), nanPoint(), nanPoint()})
			grew = true
		}
	}
	if grew {
		if err := r.initBlocks(f); err != nil {
			return err
		}
	}
	for a, ar := range archives {
		step := int64(ar.Step / time.Second)
		b := s.at.Unix() / step
		last := r.last[a]
		switch {
		case last != 0 && b < last: // the clock went back: keep what is there
			continue
		case b == last:
			for i, k := range r.blocks {
				p, ok := s.points[k]
				if !ok {
					continue
				}
				c := &r.cur[i][a]
				for v := range c {
					switch {
					case isNaN(c[v]):
						c[v] = p[v]
					case !isNaN(p[v]):
						c[v] = (c[v]*float32(r.count[a]) + p[v]) / float32(r.count[a]+1)
					}
				}
				if err := r.writePoints(f, i, a, b, b, b, *c); err != nil {
					return err
				}
			}
			r.count[a]++
		default:
			from := b
			if last != 0 {
				from = max(last+1, b-int64(ar.Len)+1)
			}
			// Buckets back to covered lie within this sample's interval
			// and take its mean; older ones were not measured.
			covered := b
			if s.interval > 0 {
				covered = b - int64(s.interval/time.Second)/step
			}
			for i, k := range r.blocks {
				p, ok := s.points[k]
				if !ok {
					p = nanPoint()
				}
				if err := r.writePoints(f, i, a, from, b, covered, p); err != nil {
					return err
				}
				r.cur[i][a] = p
			}
			r.last[a], r.count[a] = b, 1
		}
	}
	_, err := f.WriteAt(r.header(), 0)
	return err
}

// writePoints writes buckets from..to: NaN before fill, p from it on.
func (r *rrdFile) writePoints(f *os.File, block, a int, from, to, fill int64, p [nValues]float32) error {
	n := archives[a].Len
	buf := make([]byte, (to-from+1)*pointSize)
	for i := from; i <= to; i++ {
		pt := p
		if i < fill {
			pt = nanPoint()
		}
		encodePoint(buf[(i-from)*pointSize:], pt)
	}
	// The ring wraps at most once: from..to spans at most Len buckets.
	slot := from % int64(n)
	first := min(int64(len(buf)), (int64(n)-slot)*pointSize)
	if _, err := f.WriteAt(buf[:first], r.pointAt(block, a, slot)); err != nil {
		return err
	}
	if first < int64(len(buf)) {
		if _, err := f.WriteAt(buf[first:], r.pointAt(block, a, 0)); err != nil {
			return err
		}
	}
	return nil
}

// initBlocks extends the file over new blocks: a hole, read as gaps.
func (r *rrdFile) initBlocks(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if size := headerLen + int64(len(r.blocks))*blockSize; fi.Size() < size {
		return f.Truncate(size)
	}
	return nil
}

// read returns n points of archive a for every block, ending with
// bucket end (oldest first); buckets the file does not hold are NaN.
func (r *rrdFile) read(f *os.File, a int, end int64, n int) ([][nValues][]float64, error) {
	ar := archives[a]
	out := make([][nValues][]float64, len(r.blocks))
	buf := make([]byte, int64(ar.Len)*pointSize)
	for i := range r.blocks {
		for v := range out[i] {
			out[i][v] = make([]float64, n)
			for j := range out[i][v] {
				out[i][v][j] = math.NaN()
			}
		}
		if r.last[a] == 0 {
			continue
		}
		if _, err := f.ReadAt(buf, r.pointAt(i, a, 0)); err != nil {
			return nil, fmt.Errorf("%s: reading points: %w", r.path, err)
		}
		for j := 0; j < n; j++ {
			b := end - int64(n-1-j)
			if b > r.last[a] || b <= r.last[a]-int64(ar.Len) || b <= 0 {
				continue
			}
			p := decodePoint(buf[(b%int64(ar.Len))*pointSize:])
			for v := range p {
				out[i][v][j] = float64(p[v])
			}
		}
	}
	return out, nil
}

func isNaN(f float32) bool { return f != f }

var nan = math.NaN()
