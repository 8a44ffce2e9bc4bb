package xmlrpc

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// phpCall is a request as PHP's xmlrpc_encode_request writes it (default
// options: iso-8859-1 declared, one element per line), for
// hosting.disk.create with a disk named "donn<é>es"; é is the raw byte
// 0xE9 with escaping => "markup", "&#233;" with the default escaping.
func phpCall(e string) string {
	return `<?xml version="1.0" encoding="iso-8859-1"?>
<methodCall>
<methodName>hosting.disk.create</methodName>
<params>
 <param>
  <value>
   <string>alice-key-0123456789abcd</string>
  </value>
 </param>
 <param>
  <value>
   <struct>
    <member>
     <name>datacenter_id</name>
     <value>
      <int>1</int>
     </value>
    </member>
    <member>
     <name>name</name>
     <value>
      <string>donn` + e + `es</string>
     </value>
    </member>
    <member>
     <name>size</name>
     <value>
      <int>64</int>
     </value>
    </member>
   </struct>
  </value>
 </param>
</params>
</methodCall>
`
}

func TestCharsets(t *testing.T) {
	doc := func(charset, s string) string {
		return `<?xml version="1.0" encoding="` + charset + `"?><methodCall><methodName>x</methodName><params><param><value><string>` + s + `</string></value></param></params></methodCall>`
	}
	tests := []struct {
		name, doc, want string
	}{
		{"php raw latin1", phpCall("\xe9"), "données"},
		{"php escaped", phpCall("&#233;"), "données"},
		{"latin1 upper case", doc("ISO-8859-1", "caf\xe9 \xa0\xff"), "café \u00a0ÿ"},
		{"latin1 C1 byte", doc("iso-8859-1", "\x80"), "\u0080"},
		{"latin1 alias", doc("Latin1", "\xe9"), "é"},
		{"windows-1252", doc("windows-1252", "\x80 \x93q\x94 \xe9 \x9f"), "€ “q” é Ÿ"},
		{"windows-1252 undefined byte", doc("Windows-1252", "\x81"), "\u0081"},
		{"cp1252 alias", doc("CP1252", "\x80"), "€"},
		{"us-ascii", doc("US-ASCII", "plain &#233;"), "plain é"},
		{"utf-8 upper", doc("UTF-8", "données €"), "données €"},
		{"utf8 alias", doc("utf8", "données"), "données"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time too: the decoder must not depend on
			// how the body arrives.
			for _, chunked := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.doc)
				if chunked {
					r = iotest.OneByteReader(r)
				}
				call, err := DecodeCall(r)
				if err != nil {
					t.Fatalf("chunked=%v: %v", chunked, err)
				}
				got := call.Params[len(call.Params)-1]
				if m, ok := got.(map[string]any); ok {
					got = m["name"]
				}
				if got != tt.want {
					t.Fatalf("chunked=%v: got %q, want %q", chunked, got, tt.want)
				}
			}
		})
	}
}

func TestCharsetRefused(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"koi8-r", `<?xml version="1.0" encoding="KOI8-R"?><methodCall><methodName>x</methodName></methodCall>`,
			[]string{`unsupported charset "KOI8-R"`, "ISO-8859-1", "windows-1252"}},
		{"utf-16", `<?xml version="1.0" encoding="utf-16"?><methodCall><methodName>x</methodName></methodCall>`,
			[]string{`unsupported charset "utf-16"`}},
		{"huge name", `<?xml version="1.0" encoding="` + strings.Repeat("a", 5000) + `"?><methodCall><methodName>x</methodName></methodCall>`,
			[]string{`unsupported charset "aaaa`, `..."`}},
		{"non-ascii in us-ascii", `<?xml version="1.0" encoding="us-ascii"?><methodCall><methodName>x</methodName><params><param><value>caf` + "\xe9" + `</value></param></params></methodCall>`,
			[]string{"byte 0xE9 is not us-ascii"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCall(strings.NewReader(tt.doc))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}
