package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenagent/xenagent/agent/transfer"
)

// transferRows measures a migration's disk transfer over loopback, the
// real sender and receiver over HTTP: a sparse disk of diskGiB holding
// dataMiB of random data (incompressible: the case compression cannot
// flatter) moved as its allocated extents, against the bytes a full copy
// sends and the raw loopback rate of the same run; then the delta of
// deltaMiB written after the pre-copy's snapshot, the data part of a
// migration's downtime. Source reads come from the page cache; the
// receiver syncs what it writes at its checkpoints.
func transferRows(diskGiB, dataMiB, deltaMiB int) ([]row, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "xenagent-bench-transfer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	size := int64(diskGiB) << 30
	src, err := sparseFile(filepath.Join(dir, "source"), size)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := scatter(src, size, int64(dataMiB)<<20, 1); err != nil {
		return nil, err
	}
	extents, err := dataExtents(src, size)
	if err != nil {
		return nil, err
	}
	dst, err := sparseFile(filepath.Join(dir, "target"), size)
	if err != nil {
		return nil, err
	}
	dst.Close()
	rx, err := newBenchReceiver(dst.Name(), size)
	if err != nil {
		return nil, err
	}
	defer rx.srv.Close()
	target := transfer.NewHTTPTarget(rx.srv.Client(), rx.srv.URL, "1", "bench")

	data := transfer.Bytes(extents)
	raw, err := loopbackRate(data)
	if err != nil {
		return nil, fmt.Errorf("raw loopback: %w", err)
	}
	disk, err := diskRate(filepath.Join(dir, "disk-rate"), min(data, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("disk rate: %w", err)
	}
	t0 := time.Now()
	pre, err := transfer.Send(ctx, src, extents, target, transfer.Options{Pass: "precopy", Size: size})
	if err != nil {
		return nil, err
	}
	preTime := time.Since(t0)
	if err := sameOver(src, dst.Name(), extents); err != nil {
		return nil, err
	}
	held, err := allocatedBytes(dst.Name())
	if err != nil {
		return nil, err
	}

	// The guest writes deltaMiB after the snapshot, half over its data,
	// half where it had none.
	before, _ := dataExtents(src, size)
	changed, err := scatterDelta(src, size, int64(deltaMiB)<<20, before)
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	delta, err := transfer.Send(ctx, src, changed, target, transfer.Options{Pass: "delta", Base: "precopy", Size: size})
	if err != nil {
		return nil, err
	}
	deltaTime := time.Since(t0)
	if err := sameOver(src, dst.Name(), append(before, changed...)); err != nil {
		return nil, err
	}

	rate := float64(data) / preTime.Seconds()
	wireRatio := float64(pre.Wire) / float64(data)
	rawDelta := time.Duration(float64(delta.Sent) / raw * float64(time.Second))
	const gbit = 1e9 / 8 // a 1 Gbit/s link, bytes/s
	return []row{
		{name: fmt.Sprintf("transfer of a %d GiB disk holding %d MiB: bytes on the wire", diskGiB, dataMiB),
			value:  fmt.Sprintf("%s (%.3fx the data; a full copy: %d GiB)", mib(pre.Wire), wireRatio, diskGiB),
			target: "<= 1.01x the data", ok: wireRatio <= 1.01},
		{name: "  its rate over loopback (data, random) vs raw loopback", value: fmt.Sprintf("%s/s vs %s/s (%.0f%%)", mib(int64(rate)), mib(int64(raw)), 100*rate/raw),
			target: ">= 1 Gbit/s", ok: rate >= gbit},
		{name: "  the target's disk alone: writing and syncing", value: fmt.Sprintf("%s/s", mib(int64(disk))), target: "-", ok: true},
		{name: "  the target's file holds (sparse)", value: mib(held), target: "<= 1.01x the data", ok: float64(held) <= 1.01*float64(data)},
		{name: fmt.Sprintf("delta of %d MiB written after the snapshot", deltaMiB),
			value:  fmt.Sprintf("%s, %s on the wire (raw loopback: %s)", ms(deltaTime), mib(delta.Wire), ms(rawDelta)),
			target: "<= 1 s", ok: deltaTime <= time.Second},
	}, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func sparseFile(path string, size int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// scatter writes n bytes of random data in 4 MiB pieces spread evenly
// over the disk, each piece distinct.
func scatter(f *os.File, size, n int64, seed uint64) error {
	const piece = 4 << 20
	buf := randomPiece(piece, seed)
	count := n / piece
	if count == 0 {
		return nil
	}
	stride := size / count / piece * piece
	for i := range count {
		binary.LittleEndian.PutUint64(buf, uint64(i)^seed<<32)
		if _, err := f.WriteAt(buf, i*stride); err != nil {
			return err
		}
	}
	return f.Sync()
}

// scatterDelta writes n bytes in 1 MiB pieces at random offsets (each
// piece distinct), half inside the data before, and returns where.
func scatterDelta(f *os.File, size, n int64, data []transfer.Extent) ([]transfer.Extent, error) {
	const piece = 1 << 20
	buf := randomPiece(piece, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	var out []transfer.Extent
	for i := range n / piece {
		off := rng.Int64N(size/piece) * piece
		if i%2 == 0 && len(data) > 0 {
			e := data[rng.IntN(len(data))]
			off = e.Off + rng.Int64N(max(e.Len/piece, 1))*piece
		}
		binary.LittleEndian.PutUint64(buf, uint64(i)|1<<63)
		if _, err := f.WriteAt(buf, off); err != nil {
			return nil, err
		}
		out = append(out, transfer.Extent{Off: off, Len: piece})
	}
	return out, f.Sync()
}

func randomPiece(n int, seed uint64) []byte {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b
}

// dataExtents lists a file's data with SEEK_DATA/SEEK_HOLE, as the file
// backend's allocated extents do.
func dataExtents(f *os.File, size int64) ([]transfer.Extent, error) {
	var out []transfer.Extent
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, syscall.ENXIO) {
			break
		}
		if err != nil {
			return nil, err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		out = append(out, transfer.Extent{Off: start, Len: end - start})
		off = end
	}
	return out, nil
}

func allocatedBytes(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512, nil
}

// sameOver checks the target holds the source's bytes over extents.
func sameOver(src *os.File, dstPath string, extents []transfer.Extent) error {
	dst, err := os.Open(dstPath)
	if err != nil {
		return err
	}
	defer dst.Close()
	a, b := make([]byte, 4<<20), make([]byte, 4<<20)
	for _, e := range extents {
		for off := e.Off; off < e.End(); off += int64(len(a)) {
			n := min(int64(len(a)), e.End()-off)
			if _, err := src.ReadAt(a[:n], off); err != nil {
				return err
			}
			if _, err := dst.ReadAt(b[:n], off); err != nil {
				return err
			}
			if !bytes.Equal(a[:n], b[:n]) {
				return fmt.Errorf("the target differs from the source within %d+%d", off, n)
			}
		}
	}
	return nil
}

// benchReceiver is a target agent's receiving end for one disk.
type benchReceiver struct {
	srv  *httptest.Server
	disk transfer.Disk
}

func newBenchReceiver(path string, size int64) (*benchReceiver, error) {
	b := &benchReceiver{disk: transfer.Disk{Size: size, Journal: &transfer.MemJournal{},
		Open: func(context.Context) (transfer.Volume, error) { return os.OpenFile(path, os.O_WRONLY, 0) }}}
	rx, err := transfer.NewReceiver(b, transfer.ReceiverConfig{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(transfer.DiskPath, rx)
	b.srv = httptest.NewServer(mux)
	return b, nil
}

func (b *benchReceiver) Disk(_ context.Context, id string) (transfer.Disk, error) {
	if id != "1" {
		return transfer.Disk{}, transfer.ErrUnknownDisk
	}
	return b.disk, nil
}

// diskRate is the bytes per second the disk under path takes written in
// 4 MiB pieces and synced, as the receiver writes: what bounds the
// transfer's rate when the network path does not.
func diskRate(path string, n int64) (float64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	buf := randomPiece(4<<20, 6)
	t0 := time.Now()
	for off := int64(0); off < n; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// loopbackRate is the bytes per second one TCP connection over loopback
// carries, n bytes from memory to a reader that drops them: the ceiling
// for the transfer on this machine.
func loopbackRate(n int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := randomPiece(1<<20, 5)
	t0 := time.Now()
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}
