package lvm

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The XML of thin-provisioning-tools: thin_dump's metadata and
// thin_delta's differences, in thin blocks of data_block_size sectors.
// Both the C++ tools (0.9, Debian 12) and the Rust ones (1.x) are read:
// the Rust thin_dump writes subtrees shared by several devices (a thin
// snapshot and its origin) once, as <def name="N">, and each device
// using one says <ref name="N"/>; its mappings carry absolute block
// numbers, so a reference stands for them as they are.

// blocks is a range of thin blocks.
type blocks struct{ begin, length int64 }

// thinDump is what thin_dump says of one device.
type thinDump struct {
	// blockSectors is the pool's data block (chunk) size in 512-byte sectors.
	blockSectors int64
	found        bool
	mapped       []blocks
}

// errThinXML is wrapped by every parse failure.
var errThinXML = errors.New("lvm: unexpected thin-provisioning-tools output")

func attrs(e xml.StartElement) map[string]string {
	m := make(map[string]string, len(e.Attr))
	for _, a := range e.Attr {
		m[a.Name.Local] = a.Value
	}
	return m
}

// intAttr reads a non-negative number attribute of element el.
func intAttr(m map[string]string, el, name string) (int64, error) {
	v, err := strconv.ParseInt(m[name], 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: <%s %s=%q>: must be a number, not negative", errThinXML, el, name, m[name])
	}
	return v, nil
}

// parseThinDump reads thin_dump XML and keeps the mappings of device dev.
func parseThinDump(r io.Reader, dev int64) (thinDump, error) {
	var out thinDump
	defs := map[string][]blocks{}
	var def string       // the <def> being read
	var inDev, want bool // inside a <device>, and it is dev
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("%w: %v", errThinXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			m := attrs(t)
			var b blocks
			switch el := t.Name.Local; el {
			case "superblock":
				if out.blockSectors, err = intAttr(m, el, "data_block_size"); err != nil {
					return out, err
				}
			case "def":
				def = m["name"]
			case "device":
				id, err := intAttr(m, el, "dev_id")
				if err != nil {
					return out, err
				}
				inDev, want = true, id == dev
				out.found = out.found || want
			case "ref":
				refd, ok := defs[m["name"]]
				if !ok {
					return out, fmt.Errorf("%w: <ref name=%q> to no <def> before it", errThinXML, m["name"])
				}
				switch {
				case def != "":
					defs[def] = append(defs[def], refd...)
				case want:
					out.mapped = append(out.mapped, refd...)
				}
				continue
			case "single_mapping":
				b.length = 1
				if b.begin, err = intAttr(m, el, "origin_block"); err != nil {
					return out, err
				}
			case "range_mapping":
				if b.begin, err = intAttr(m, el, "origin_begin"); err != nil {
					return out, err
				}
				if b.length, err = intAttr(m, el, "length"); err != nil {
					return out, err
				}
			default:
				continue
			}
			if b.length == 0 {
				continue
			}
			switch {
			case def != "":
				defs[def] = append(defs[def], b)
			case want:
				out.mapped = append(out.mapped, b)
			case !inDev:
				return out, fmt.Errorf("%w: <%s> outside any <device> or <def>", errThinXML, t.Name.Local)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "def":
				def = ""
			case "device":
				inDev, want = false, false
			}
		}
	}
	if out.blockSectors <= 0 {
		return out, fmt.Errorf("%w: no <superblock> with a data_block_size", errThinXML)
	}
	return out, nil
}

// parseThinDelta reads thin_delta XML, terse or --verbose, and returns
// the pool's block size and the ranges where the two devices differ:
// <different> (both mapped, elsewhere), <left_only> (the second reads
// zeros where the first had data) and <right_only>, never <same>.
func parseThinDelta(r io.Reader) (blockSectors int64, differ []blocks, err error) {
	var section string // the <different>, <same>... a verbose <range> is in
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %v", errThinXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			m := attrs(t)
			el := t.Name.Local
			switch el {
			case "superblock":
				if blockSectors, err = intAttr(m, el, "data_block_size"); err != nil {
					return 0, nil, err
				}
				continue
			case "different", "left_only", "right_only", "same":
				if _, terse := m["begin"]; !terse {
					section = el
					continue
				}
			case "range":
				el = section
			default:
				continue
			}
			if el == "same" || el == "" {
				continue
			}
			var b blocks
			if b.begin, err = intAttr(m, t.Name.Local, "begin"); err != nil {
				return 0, nil, err
			}
			if b.length, err = intAttr(m, t.Name.Local, "length"); err != nil {
				return 0, nil, err
			}
			differ = append(differ, b)
		case xml.EndElement:
			if t.Name.Local == section {
				section = ""
			}
		}
	}
	if blockSectors <= 0 {
		return 0, nil, fmt.Errorf("%w: no <superblock> with a data_block_size", errThinXML)
	}
	return blockSectors, differ, nil
}
