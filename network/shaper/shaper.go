// Package shaper limits an interface's bandwidth both ways with the
// kernel's traffic control, through netlink only.
//
// Seen from the host, a VM's backend device (a Xen vif or a tap) sends
// what goes to the VM and receives what the VM sends. Traffic to the VM
// is shaped by a TBF qdisc at the device's root. Traffic from the VM
// arrives on the device's ingress, where nothing can queue it, so a u32
// filter redirects every packet (mirred) to an IFB device whose root TBF
// shapes it. This kernel has no police action, and shaping (queueing)
// treats TCP better than policing (dropping) would anyway.
package shaper

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Shaper applies and removes shaping in one network namespace.
type Shaper struct {
	h *netlink.Handle

	reaper   *netlink.Handle
	reaping  sync.WaitGroup
	mu       sync.Mutex
	reapErrs []error
}

// Option configures a Shaper.
type Option func(*Shaper)

// WithReaper deletes removed IFB devices in the background through h, a
// handle of its own in the same namespace. Deleting a device takes ~15
// ms here, nearly all of it the kernel waiting for an RCU grace period
// (the CPU is idle meanwhile); a handle serializes its requests, so the
// wait on the shaping handle would hold up every other change. The IFB
// is taken out of service at once: down, and renamed with RetiredPrefix
// so that its name is free for the next device of the same interface.
func WithReaper(h *netlink.Handle) Option { return func(s *Shaper) { s.reaper = h } }

// RetiredPrefix starts the name of an IFB waiting for deletion; one left
// by a crash is a leftover that the caller's sweep removes.
const RetiredPrefix = "xa-r"

// New shapes devices of the namespace h is bound to.
func New(h *netlink.Handle, opts ...Option) *Shaper {
	s := &Shaper{h: h}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Settle waits until every IFB removed so far is deleted, and returns
// what failed among those deletions.
func (s *Shaper) Settle() error {
	s.reaping.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(s.reapErrs...)
	s.reapErrs = nil
	return err
}

// deleteIFB deletes an IFB device, in the background with a reaper.
func (s *Shaper) deleteIFB(l netlink.Link) error {
	name := l.Attrs().Name
	if s.reaper == nil || strings.HasPrefix(name, RetiredPrefix) {
		if err := s.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("deleting %s: %w", name, err)
		}
		return nil
	}
	if err := s.h.LinkSetDown(l); err != nil {
		return fmt.Errorf("taking %s down: %w", name, err)
	}
	// The index is unique in the namespace while the device lives.
	if err := s.h.LinkSetName(l, RetiredPrefix+strconv.Itoa(l.Attrs().Index)); err != nil {
		return fmt.Errorf("retiring %s: %w", name, err)
	}
	s.reaping.Add(1)
	go func() {
		defer s.reaping.Done()
		if err := s.reaper.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			s.mu.Lock()
			s.reapErrs = append(s.reapErrs, fmt.Errorf("deleting %s (was %s): %w", RetiredPrefix+strconv.Itoa(l.Attrs().Index), name, err))
			s.mu.Unlock()
		}
	}()
	return nil
}

// Limits are rates in bit/s; 0 leaves a direction unshaped.
type Limits struct {
	ToVM   uint64
	FromVM uint64
}

const (
	rootHandle    = 0x1
	ingressHandle = 0xffff
	filterPrio    = 1
	minBurst      = 3 * 1514 // a burst smaller than a few frames stalls TCP
	// minQueue holds ~8 full frames: fewer, and TCP loses several frames
	// per window at low rates, either way.
	minQueue = 12500
)

// tbf sizes a token bucket for rate bit/s: a burst of ~10 ms of traffic
// (so a fast link reaches its rate: the default-burst HTB measured here
// lost 10 % at 1 Gbit/s), and a queue. To the VM the sender is dom0's
// bridge, which queues nothing, and ~50 ms is enough. From the VM the
// sender is on the far side of the queue and only drops slow it down, so
// the queue decides how TCP behaves. Either way the queue holds at least
// minQueue: at 1 Mbit/s 50 ms is four frames. Measured here with iperf3
// (receiver-side seconds): 200 ms keeps 10 Mbit/s and up within 1 % (10
// Mbit/s sees no loss at all, 50 ms lost 13 % under load); at 1 Mbit/s a
// 200 ms (or 64 KiB) queue turns one slow-start overshoot into seconds of
// recovery (+26 %, -55 %); 100 ms keeps iperf3 within a frame a second.
func tbf(linkIndex int, bps uint64, remoteSender bool) *netlink.Tbf {
	rate := bps / 8 // TBF counts bytes, HTB bits: netlink passes bytes/s here
	burst := burstOf(bps)
	queue := rate / 20
	if remoteSender {
		queue = rate / 5
		if bps < 2_000_000 {
			queue = rate / 10
		}
	}
	queue = max(queue, minQueue)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: linkIndex, Handle: netlink.MakeHandle(rootHandle, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Buffer:     netlink.Xmittime(rate, uint32(burst)),
		Limit:      uint32(burst + queue),
	}
}

func burstOf(bps uint64) uint64 { return max(bps/8/100, minBurst) }

// legacyGSOMax is the kernel's default largest GSO packet.
const legacyGSOMax = 65536

// minGSO is two frames, the least TCP puts in a GSO packet anyway.
const minGSO = 2 * 1514

// gsoLimit is the largest GSO packet the host should build for a device
// shaped to the VM at bps, or 0 for the kernel's default: ~10 ms of the
// rate, never more than the burst. TBF splits a packet larger than its
// burst and drops the segments that do not fit, while a local sender
// (dom0 itself, or the bench) is told the whole packet went: it loses
// data it has to recover by timeout, a second of nothing at 1 Mbit/s
// (measured here with iperf3: 93 retransmits in 8 s, none with the
// limit). A packet no larger than the burst is queued or refused whole,
// and a refusal is a cue TCP handles at once. Smaller than the burst, the
// packets also leave the bucket evenly: at 1 Mbit/s 3-frame packets made
// the seconds alternate 938/973 kbit/s, 2-frame ones 950/961.
func gsoLimit(bps uint64) uint32 {
	// Within the burst by construction: the burst is the same 10 ms with
	// a larger floor (minBurst > minGSO).
	if g := max(bps/8/100, minGSO); bps > 0 && g < legacyGSOMax {
		return uint32(g)
	}
	return 0
}

// setGSO limits the device's GSO packets to what shaping at bps takes
// whole (bps 0: no shaping), or gives back the default it had before.
// The bridge takes the smallest of its ports' limits for itself.
func (s *Shaper) setGSO(link netlink.Link, bps uint64) error {
	want, have := gsoLimit(bps), link.Attrs().GSOMaxSize
	if want == 0 {
		if have == 0 || have >= legacyGSOMax {
			return nil
		}
		want = legacyGSOMax
	}
	if have == want {
		return nil
	}
	if err := s.h.LinkSetGSOMaxSize(link, int(want)); err != nil {
		return fmt.Errorf("GSO size of %s: %w", link.Attrs().Name, err)
	}
	return nil
}

// Apply shapes dev to the limits, creating or replacing what is there;
// the IFB device ifb carries what the VM sends. It is idempotent and
// changes a live rate without a gap.
func (s *Shaper) Apply(dev, ifb string, l Limits) error {
	link, err := s.h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("shaping %s: %w", dev, err)
	}
	if l.ToVM > 0 {
		if err := s.h.QdiscReplace(tbf(link.Attrs().Index, l.ToVM, false)); err != nil {
			return fmt.Errorf("shaping traffic to the VM on %s: %w", dev, err)
		}
	} else if err := s.deleteRoot(link); err != nil {
		return err
	}
	if err := s.setGSO(link, l.ToVM); err != nil {
		return err
	}
	if l.FromVM == 0 {
		return s.removeIngress(link, ifb)
	}
	ifbLink, err := s.ensureIFB(ifb)
	if err != nil {
		return err
	}
	if err := s.h.QdiscReplace(tbf(ifbLink.Attrs().Index, l.FromVM, true)); err != nil {
		return fmt.Errorf("shaping traffic from the VM on %s: %w", ifb, err)
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index,
		Handle: netlink.MakeHandle(ingressHandle, 0), Parent: netlink.HANDLE_INGRESS}}
	// The kernel refuses to replace an ingress qdisc with an equal one.
	if err := s.h.QdiscAdd(ingress); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("ingress qdisc on %s: %w", dev, err)
	}
	redirect := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(ingressHandle, 0),
			Priority: filterPrio, Protocol: unix.ETH_P_ALL},
		Actions: []netlink.Action{netlink.NewMirredAction(ifbLink.Attrs().Index)},
	}
	if err := s.h.FilterReplace(redirect); err != nil {
		return fmt.Errorf("redirecting %s to %s: %w", dev, ifb, err)
	}
	return nil
}

// ensureIFB creates the IFB device if needed and brings it up.
func (s *Shaper) ensureIFB(name string) (netlink.Link, error) {
	link, err := s.h.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return nil, fmt.Errorf("looking up %s: %w", name, err)
		}
		// NewLinkAttrs, not a zero value: a zero TxQLen makes an IFB
		// whose qdisc drops everything.
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		if err := s.h.LinkAdd(&netlink.Ifb{LinkAttrs: attrs}); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("creating %s: %w", name, err)
		}
		if link, err = s.h.LinkByName(name); err != nil {
			return nil, err
		}
	}
	if err := s.h.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bringing %s up: %w", name, err)
	}
	return link, nil
}

func (s *Shaper) deleteRoot(link netlink.Link) error {
	qs, err := s.h.QdiscList(link)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "tbf" {
			if err := s.h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("removing shaping from %s: %w", link.Attrs().Name, err)
			}
		}
	}
	return nil
}

func (s *Shaper) removeIngress(link netlink.Link, ifb string) error {
	if link != nil {
		qs, err := s.h.QdiscList(link)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Attrs().Parent == netlink.HANDLE_INGRESS {
				if err := s.h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("removing ingress from %s: %w", link.Attrs().Name, err)
				}
			}
		}
	}
	if l, err := s.h.LinkByName(ifb); err == nil {
		return s.deleteIFB(l)
	}
	return nil
}

// Remove takes all shaping off dev (which may be gone already: Xen
// removes a vif with its domain) and deletes the IFB.
// An empty dev removes only the IFB.
func (s *Shaper) Remove(dev, ifb string) error {
	var link netlink.Link
	if dev != "" {
		var err error
		if link, err = s.h.LinkByName(dev); err != nil {
			var notFound netlink.LinkNotFoundError
			if !errors.As(err, &notFound) {
				return err
			}
			link = nil
		}
	}
	if link != nil {
		if err := s.deleteRoot(link); err != nil {
			return err
		}
		if err := s.setGSO(link, 0); err != nil {
			return err
		}
	}
	return s.removeIngress(link, ifb)
}

// State is what is in place on a device, read back from the kernel.
type State struct {
	ToVM       uint64 // bit/s of the root TBF, or 0
	FromVM     uint64 // bit/s of the IFB's root TBF, or 0
	Redirected bool   // an ingress filter redirects to the IFB
}

// Inspect reads back the shaping of dev and ifb.
func (s *Shaper) Inspect(dev, ifb string) (State, error) {
	var st State
	link, err := s.h.LinkByName(dev)
	if err != nil {
		return st, err
	}
	rootRate := func(l netlink.Link) (uint64, error) {
		qs, err := s.h.QdiscList(l)
		if err != nil {
			return 0, err
		}
		for _, q := range qs {
			if t, ok := q.(*netlink.Tbf); ok && q.Attrs().Parent == netlink.HANDLE_ROOT {
				return t.Rate * 8, nil
			}
		}
		return 0, nil
	}
	if st.ToVM, err = rootRate(link); err != nil {
		return st, err
	}
	ifbLink, err := s.h.LinkByName(ifb)
	if err != nil {
		return st, nil
	}
	if st.FromVM, err = rootRate(ifbLink); err != nil {
		return st, err
	}
	filters, err := s.h.FilterList(link, netlink.MakeHandle(ingressHandle, 0))
	if err != nil {
		return st, nil // no ingress qdisc
	}
	for _, f := range filters {
		u, ok := f.(*netlink.U32)
		if !ok {
			continue
		}
		for _, a := range u.Actions {
			if m, ok := a.(*netlink.MirredAction); ok && m.Ifindex == ifbLink.Attrs().Index && m.MirredAction == netlink.TCA_EGRESS_REDIR {
				st.Redirected = true
			}
		}
	}
	return st, nil
}
