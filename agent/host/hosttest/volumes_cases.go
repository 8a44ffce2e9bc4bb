package hosttest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/xenagent/xenagent/agent/host"
)

var payload = []byte("xenagent-conformance")

func volCreate(t *testing.T, r *volRig) {
	src := r.name("src")
	r.create(src, 64, Own1)
	if err := r.v.Create(r.ctx, src, 64, Own1); err != nil {
		t.Fatalf("creating again: %v", err)
	}
	if !r.exists(src) {
		t.Fatal("not there after create")
	}
	r.listed(src, 64, Own1)
}

func volClone(t *testing.T, r *volRig) {
	src, clone := r.name("src"), r.name("clone")
	r.create(src, 64, Own1)
	r.write(src, 40<<20, payload)
	if err := r.v.Clone(r.ctx, src, clone, 128, Own2); err != nil {
		t.Fatal(err)
	}
	if err := r.v.Clone(r.ctx, src, clone, 128, Own2); err != nil {
		t.Fatalf("cloning again: %v", err)
	}
	// The clone carries its own maker's mark, not its source's.
	r.listed(clone, 128, Own2)
	if got := r.read(clone, 40<<20, len(payload)); !bytes.Equal(got, payload) {
		t.Fatalf("clone data = %q", got)
	}
	r.write(clone, 40<<20, []byte("CHANGED"))
	if got := r.read(src, 40<<20, len(payload)); !bytes.Equal(got, payload) {
		t.Fatalf("writing the clone changed the source: %q", got)
	}
	r.listed(src, 64, Own1)
}

func volResize(t *testing.T, r *volRig) {
	vol := r.name("grown")
	r.create(vol, 64, Own1)
	for _, c := range []struct {
		to, want int64
		ok       bool
	}{{192, 192, true}, {192, 192, true}, {64, 192, false}} {
		err := r.v.Resize(r.ctx, vol, c.to)
		if (err == nil) != c.ok {
			t.Fatalf("resize to %d MB: %v", c.to, err)
		}
		r.listed(vol, c.want, Own1)
	}
}

func volDelete(t *testing.T, r *volRig) {
	vol := r.name("gone")
	r.create(vol, 8, Own1)
	// The agent (no operation) deletes what any of its operations made.
	for i := range 2 {
		if err := r.v.Delete(r.ctx, vol, OwnAny); err != nil {
			t.Fatalf("delete %d: %v", i+1, err)
		}
	}
	if r.exists(vol) {
		t.Fatal("exists after delete")
	}
	if _, ok := r.find(vol); ok {
		t.Fatal("listed after delete")
	}
}

func volReadOnly(t *testing.T, r *volRig) {
	image, from := r.name("image"), r.name("fromimage")
	r.create(image, 16, Own1)
	r.write(image, 4096, []byte("golden"))
	if err := r.v.SetReadOnly(r.ctx, image); err != nil {
		t.Fatal(err)
	}
	if refused, err := r.data.RefusesWrites(image); err != nil || !refused {
		t.Fatalf("a read-only image takes writes: %v", err)
	}
	if err := r.v.Clone(r.ctx, image, from, 16, Own2); err != nil {
		t.Fatal(err)
	}
	r.write(from, 4096, []byte("copied"))
	if got := r.read(image, 4096, 6); !bytes.Equal(got, []byte("golden")) {
		t.Fatalf("image holds %q", got)
	}
	for _, n := range []string{from, image} {
		if err := r.v.Delete(r.ctx, n, OwnAny); err != nil {
			t.Fatal(err)
		}
	}
}

func volCloneMissing(t *testing.T, r *volRig) {
	gone := r.name("gone")
	if err := r.v.Clone(r.ctx, r.pre+"nothing", gone, 8, Own2); err == nil {
		t.Fatal("accepted")
	}
	if r.exists(gone) {
		t.Fatal("a failed clone left a volume")
	}
}

func volMarks(t *testing.T, r *volRig) {
	theirs, mine := r.name("theirs"), r.name("mine")
	r.create(theirs, 8, Other)
	r.write(theirs, 4096, payload)
	r.create(mine, 8, Own1)
	r.write(mine, 4096, payload)
	// Creating, cloning onto or deleting another maker's volume is
	// refused; an operation's undo deletes only what that operation made.
	for _, c := range []struct {
		what string
		call func() error
		want error
	}{
		{"create over another's", func() error { return r.v.Create(r.ctx, theirs, 8, Own1) }, host.ErrExists},
		{"create over another's, other size", func() error { return r.v.Create(r.ctx, theirs, 16, Own1) }, host.ErrExists},
		{"create over another operation's", func() error { return r.v.Create(r.ctx, mine, 8, Own2) }, host.ErrExists},
		{"clone onto another's", func() error { return r.v.Clone(r.ctx, mine, theirs, 8, Own1) }, host.ErrExists},
		{"delete another's", func() error { return r.v.Delete(r.ctx, theirs, OwnAny) }, host.ErrNotOurs},
		{"delete another operation's", func() error { return r.v.Delete(r.ctx, mine, Own2) }, host.ErrNotOurs},
	} {
		if err := c.call(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}
	// Both are left whole.
	for _, v := range []struct {
		name string
		mark host.Mark
	}{{theirs, Other}, {mine, Own1}} {
		if got := r.read(v.name, 4096, len(payload)); !bytes.Equal(got, payload) {
			t.Errorf("%s holds %q", v.name, got)
		}
		r.listed(v.name, 8, v.mark)
	}
	// Re-marking (adoption) makes another's volume this agent's.
	if err := r.v.SetMark(r.ctx, theirs, OwnAny); err != nil {
		t.Fatal(err)
	}
	r.listed(theirs, 8, OwnAny)
}

func volInvalidMarks(t *testing.T, r *volRig) {
	vol, src := r.name("unmarked"), r.name("src")
	r.create(src, 8, Own1)
	for _, m := range []host.Mark{{}, {Owner: "not an owner!", Op: 1}, {Owner: Own1.Owner, Op: -1}} {
		if err := r.v.Create(r.ctx, vol, 8, m); err == nil {
			t.Errorf("create marked %+v accepted", m)
		}
		if err := r.v.Clone(r.ctx, src, vol, 8, m); err == nil {
			t.Errorf("clone marked %+v accepted", m)
		}
		if err := r.v.SetMark(r.ctx, src, m); err == nil {
			t.Errorf("re-marking as %+v accepted", m)
		}
	}
	if r.exists(vol) {
		t.Fatal("a refused mark left a volume")
	}
	r.listed(src, 8, Own1)
}

func volRename(t *testing.T, r *volRig) {
	mine, theirs := r.name("mine"), r.name("theirs")
	q := host.Quarantined(mine, time.Now())
	r.cleanup(q)
	r.create(mine, 8, Own1)
	r.write(mine, 0, payload)
	r.create(theirs, 8, Other)
	if err := r.v.Rename(r.ctx, mine, theirs); !errors.Is(err, host.ErrExists) {
		t.Fatalf("rename onto an existing volume: %v", err)
	}
	r.listed(theirs, 8, Other)
	if err := r.v.Rename(r.ctx, mine, q); err != nil {
		t.Fatal(err)
	}
	if r.exists(mine) {
		t.Fatal("the old name survived the rename")
	}
	r.listed(q, 8, Own1)
	if b := r.read(q, 0, len(payload)); !bytes.Equal(b, payload) {
		t.Fatalf("renamed volume holds %q", b)
	}
	// The name it is listed under says where it came from.
	if orig, _, ok := host.ParseQuarantined(q); !ok || orig != mine {
		t.Fatalf("quarantined as %q: %q, %v", q, orig, ok)
	}
}

func volMissing(t *testing.T, r *volRig) {
	gone, other := r.name("nothing"), r.name("elsewhere")
	for _, c := range []struct {
		what string
		call func() error
		done bool
	}{
		{"delete", func() error { return r.v.Delete(r.ctx, gone, OwnAny) }, true},
		{"resize", func() error { return r.v.Resize(r.ctx, gone, 8) }, false},
		{"set read-only", func() error { return r.v.SetReadOnly(r.ctx, gone) }, false},
		{"rename", func() error { return r.v.Rename(r.ctx, gone, other) }, false},
		{"set mark", func() error { return r.v.SetMark(r.ctx, gone, Own1) }, false},
	} {
		err := c.call()
		if c.done && err != nil || !c.done && (err == nil || errors.Is(err, host.ErrExists)) {
			t.Errorf("%s: %v", c.what, err)
		}
	}
	for _, n := range []string{gone, other} {
		if r.exists(n) {
			t.Errorf("%s exists", n)
		}
	}
}
