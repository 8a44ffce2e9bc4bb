package service

import (
	"regexp"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/xenagent/xenagent/agent/store"
	"github.com/xenagent/xenagent/agent/workflow"
)

// Unlimited is the bandwidth of an iface that is not shaped at all (the
// Gigas document's rate_limit 0). Any other bandwidth is a rate between
// the network's minimum and limits.max_bandwidth_bps.
const Unlimited = 0.0

// CPU shares are a VM's CPU weight against the host's other VMs: libvirt
// <cputune><shares>, which is the credit scheduler's weight on Xen (1 to
// 65535, 256 by default) and the cgroup's weight under QEMU (1 to 10000
// with cgroup v2, 2 to 262144 with v1). The bounds are what every one of
// them takes; 0 (never set) leaves the hypervisor's default.
const (
	MinCPUShares = 1
	MaxCPUShares = 10000
)

// Bounds of the VM's free texts, in characters: a VM record is read at
// every list, and 10,000 of them should stay small.
const (
	MaxLabelChars       = 255 // label (Gigas) and description (Gandi)
	MaxNoteChars        = 4096
	MaxGigasHostnameLen = 25
)

// gandiHostnameRE is one DNS label: what cloud-init can make the guest's
// host name. It is also the service's own rule for any face.
var gandiHostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// gigasHostnameRE is the Gigas document's rule ("up to 25 characters not
// starting with a number ... letters, digits and dashes"), within the DNS
// label rule: a name starting or ending with '-' is no host name either.
var gigasHostnameRE = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9-]{0,23}[A-Za-z0-9])?$`)

// GandiHostname checks a hostname against the Gandi v3 face's rule, one
// DNS label. The service applies it to every VM it creates.
func GandiHostname(h string) error {
	if !gandiHostnameRE.MatchString(h) {
		return Invalid(ObjVM, "hostname", "must be 1-63 letters, digits or '-', not starting or ending with '-', got %q", h)
	}
	return nil
}

// GigasHostname checks a hostname against the Gigas document's rule: at
// most 25 letters, digits or '-', not starting with a digit (nor, being a
// DNS label, starting or ending with '-'). The Gigas face applies it
// before calling the service.
func GigasHostname(h string) error {
	if !gigasHostnameRE.MatchString(h) {
		return Invalid(ObjVM, "hostname", "must be 1-%d letters, digits or '-', starting with a letter and not ending with '-', got %q", MaxGigasHostnameLen, h)
	}
	return nil
}

// checkText checks a free text the agent keeps and returns: valid UTF-8,
// at most max characters, no control characters but, in a multi-line
// text, newlines and tabs; a one-line text has no Unicode line or
// paragraph separator (U+2028, U+2029: a new line to a browser or an
// editor, if not to unicode.IsControl), and no text has a bidirectional
// override, embedding or isolate (U+202A-U+202E, U+2066-U+2069): these
// reorder what follows them on screen, so a tenant's label would show
// an operator's listing, or its log line, as another text.
func checkText(field, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return Invalid(ObjVM, field, "must be UTF-8 text")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Invalid(ObjVM, field, "must be at most %d characters, got %d", max, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			if multiline {
				return Invalid(ObjVM, field, "must not contain control characters other than newline and tab, got %U", r)
			}
			return Invalid(ObjVM, field, "must be one line without control characters, got %U", r)
		}
		if !multiline && (r == '\u2028' || r == '\u2029') {
			return Invalid(ObjVM, field, "must be one line without control characters, got %U (a line separator)", r)
		}
		if bidiControl(r) {
			return Invalid(ObjVM, field, "must not contain bidirectional overrides, embeddings or isolates, got %U", r)
		}
	}
	return nil
}

// bidiControl: the explicit bidirectional formatting characters that
// reorder the text after them (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI,
// PDI). The marks LRM and RLM reorder nothing and mixed-script text
// needs them: they stay allowed.
func bidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

func checkCPUShares(n int64) error {
	if n < MinCPUShares || n > MaxCPUShares {
		return Invalid(ObjVM, "cpu_shares", "must be from %d to %d (a CPU weight against the host's other VMs), got %d", MinCPUShares, MaxCPUShares, n)
	}
	return nil
}

// VMTune is what a VM is created with or updated to beside its sizes:
// its free texts, which the agent keeps and returns and nothing else,
// and its CPU weight. nil is absent (on create: "" and the hypervisor's
// default weight).
type VMTune struct {
	Description, Label, Note *string
	CPUShares                *int64
}

// check checks each field given.
func (t VMTune) check() error {
	for _, f := range []struct {
		name      string
		v         *string
		max       int
		multiline bool
	}{{"description", t.Description, MaxLabelChars, false}, {"label", t.Label, MaxLabelChars, false}, {"note", t.Note, MaxNoteChars, true}} {
		if f.v != nil {
			if err := checkText(f.name, *f.v, f.max, f.multiline); err != nil {
				return err
			}
		}
	}
	if t.CPUShares != nil {
		return checkCPUShares(*t.CPUShares)
	}
	return nil
}

// params adds the fields given to an operation's params.
func (t VMTune) params(params map[string]string) {
	for key, v := range map[string]*string{"description": t.Description, "label": t.Label, "note": t.Note} {
		if v != nil {
			params[key] = *v
		}
	}
	if t.CPUShares != nil {
		params["cpu_shares"] = strconv.FormatInt(*t.CPUShares, 10)
	}
}

// input adds the fields given to vm_update's input.
func (t VMTune) input(in *workflow.VMUpdate) {
	in.Description, in.Label, in.Note, in.CPUShares = t.Description, t.Label, t.Note, t.CPUShares
}

// apply sets what is given on a VM's record.
func (t VMTune) apply(v *store.VM) {
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&v.Description, t.Description}, {&v.Label, t.Label}, {&v.Note, t.Note}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if t.CPUShares != nil {
		v.CPUShares = *t.CPUShares
	}
}
