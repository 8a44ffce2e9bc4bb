package xmlrpc

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Charsets is what a document may declare, as the fault that refuses
// another one says. Real clients send these: PHP's xmlrpc_encode_request
// declares iso-8859-1, some Windows tools windows-1252, older Perl and
// Java clients us-ascii.
const Charsets = "UTF-8, US-ASCII, ISO-8859-1, windows-1252"

// singleByte maps a declared charset name (lower case) to its table: the
// code point of each byte from 0x80 up, nil for ASCII, which has none.
var singleByte = map[string]*[128]rune{
	"us-ascii": nil, "ascii": nil,
	"iso-8859-1": &latin1, "iso8859-1": &latin1, "iso_8859-1": &latin1, "latin1": &latin1, "latin-1": &latin1, "l1": &latin1,
	"windows-1252": &cp1252, "cp1252": &cp1252, "x-cp1252": &cp1252,
}

var latin1, cp1252 [128]rune

func init() {
	for i := range latin1 {
		latin1[i] = rune(0x80 + i)
	}
	cp1252 = latin1
	// windows-1252 differs from ISO-8859-1 only in 0x80-0x9F. The five
	// bytes it leaves undefined keep their C1 code points, as WHATWG's
	// table does (and browsers, and PHP's mbstring).
	for b, r := range map[byte]rune{
		0x80: '€', 0x82: '‚', 0x83: 'ƒ', 0x84: '„', 0x85: '…', 0x86: '†', 0x87: '‡', 0x88: 'ˆ', 0x89: '‰',
		0x8A: 'Š', 0x8B: '‹', 0x8C: 'Œ', 0x8E: 'Ž', 0x91: '‘', 0x92: '’', 0x93: '“', 0x94: '”', 0x95: '•',
		0x96: '–', 0x97: '—', 0x98: '˜', 0x99: '™', 0x9A: 'š', 0x9B: '›', 0x9C: 'œ', 0x9E: 'ž', 0x9F: 'Ÿ',
	} {
		cp1252[b-0x80] = r
	}
}

// charsetReader returns a reader that turns a document in the declared
// charset into UTF-8, or ok=false for a charset it does not know.
// encoding/xml asks only for charsets other than UTF-8.
func charsetReader(charset string, input io.Reader) (r io.Reader, ok bool) {
	name := strings.ToLower(strings.TrimSpace(charset))
	switch name {
	case "utf-8", "utf8":
		return input, true
	}
	table, ok := singleByte[name]
	if !ok {
		return nil, false
	}
	return &toUTF8{src: input, table: table, charset: charset}, true
}

// toUTF8 decodes a single-byte charset. US-ASCII has no table: a byte
// above 0x7F there is an error, not a guess.
type toUTF8 struct {
	src     io.Reader
	table   *[128]rune
	charset string
	in      []byte
	out     []byte // decoded, not yet returned
}

func (t *toUTF8) Read(p []byte) (int, error) {
	if len(t.out) == 0 {
		if cap(t.in) == 0 {
			t.in = make([]byte, 4096)
		}
		n, err := t.src.Read(t.in[:cap(t.in)])
		for _, b := range t.in[:n] {
			switch {
			case b < 0x80:
				t.out = append(t.out, b)
			case t.table == nil:
				// encoding/xml hands this on; the decoder marks it malformed.
				return 0, fmt.Errorf("byte 0x%02X is not %s: declare the document's real encoding, or escape the character", b, truncate(t.charset))
			default:
				t.out = utf8.AppendRune(t.out, t.table[b-0x80])
			}
		}
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, t.out)
	t.out = t.out[n:]
	if len(t.out) == 0 {
		t.out = t.out[:0:0]
	}
	return n, nil
}
