package xmlrpc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	when := time.Date(2011, 3, 24, 17, 14, 6, 0, time.UTC)
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"int", 42, int64(42)},
		{"negative int", int64(-7), int64(-7)},
		{"double", 102400.5, 102400.5},
		{"string escaped", "a<b>&\"c'", "a<b>&\"c'"},
		{"empty string", "", ""},
		{"unicode", "héllo ☃", "héllo ☃"},
		{"time", when, when},
		{"base64", []byte{0, 1, 2, 255}, []byte{0, 1, 2, 255}},
		{"array", []any{int64(1), "x", nil}, []any{int64(1), "x", nil}},
		{"typed slice", []int64{3, 4}, []any{int64(3), int64(4)}},
		{"struct", map[string]any{"a": int64(1), "b": map[string]any{"c": []any{}}},
			map[string]any{"a": int64(1), "b": map[string]any{"c": []any{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := EncodeCall("m.x", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			call, err := DecodeCall(bytes.NewReader(doc))
			if err != nil {
				t.Fatalf("decode %s: %v", doc, err)
			}
			if call.Method != "m.x" || len(call.Params) != 1 {
				t.Fatalf("call = %+v", call)
			}
			if !reflect.DeepEqual(call.Params[0], tt.want) {
				t.Errorf("got %#v, want %#v", call.Params[0], tt.want)
			}
			resp, err := EncodeResponse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeResponse(bytes.NewReader(resp))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("response got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name string
		body string
		want any
	}{
		{"bare string", `<value>abc</value>`, "abc"},
		{"i4", `<value><i4>7</i4></value>`, int64(7)},
		{"i8 beyond int32", `<value><i8>5000000000</i8></value>`, int64(5000000000)},
		{"dashed date", `<value><dateTime.iso8601>2011-03-24T17:14:06</dateTime.iso8601></value>`,
			time.Date(2011, 3, 24, 17, 14, 6, 0, time.UTC)},
		{"date alone, dashed", `<value><dateTime.iso8601>2006-01-01</dateTime.iso8601></value>`,
			time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"date alone", `<value><dateTime.iso8601>20060201</dateTime.iso8601></value>`,
			time.Date(2006, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"zoned date", `<value><dateTime.iso8601>20110324T19:14:06+02:00</dateTime.iso8601></value>`,
			time.Date(2011, 3, 24, 17, 14, 6, 0, time.UTC)},
		{"wrapped base64", "<value><base64>AAEC\n/w==</base64></value>", []byte{0, 1, 2, 255}},
		{"whitespace between", "<value>\n <struct>\n <member> <name>k</name> <value><int> 1 </int></value> </member>\n</struct> </value>",
			map[string]any{"k": int64(1)}},
		{"empty array", `<value><array><data/></array></value>`, []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `<?xml version="1.0"?><methodCall><methodName>x</methodName><params><param>` + tt.body + `</param></params></methodCall>`
			call, err := DecodeCall(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(call.Params[0], tt.want) {
				t.Errorf("got %#v, want %#v", call.Params[0], tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := strings.Repeat("<value><array><data>", MaxDepth+2) + strings.Repeat("</data></array></value>", MaxDepth+2)
	tests := []struct {
		name string
		doc  string
	}{
		{"not xml", `hello`},
		{"wrong root", `<methodResponse/>`},
		{"no method", `<methodCall><methodName></methodName></methodCall>`},
		{"bad int", `<methodCall><methodName>x</methodName><params><param><value><int>1.5</int></value></param></params></methodCall>`},
		{"int overflow", `<methodCall><methodName>x</methodName><params><param><value><int>3000000000</int></value></param></params></methodCall>`},
		{"bad bool", `<methodCall><methodName>x</methodName><params><param><value><boolean>yes</boolean></value></param></params></methodCall>`},
		{"bad double", `<methodCall><methodName>x</methodName><params><param><value><double>NaN</double></value></param></params></methodCall>`},
		{"bad date", `<methodCall><methodName>x</methodName><params><param><value><dateTime.iso8601>yesterday</dateTime.iso8601></value></param></params></methodCall>`},
		{"bad base64", `<methodCall><methodName>x</methodName><params><param><value><base64>***</base64></value></param></params></methodCall>`},
		{"unknown type", `<methodCall><methodName>x</methodName><params><param><value><float>1</float></value></param></params></methodCall>`},
		{"duplicate member", `<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct></value></param></params></methodCall>`},
		{"too deep", `<methodCall><methodName>x</methodName><params><param>` + deep + `</param></params></methodCall>`},
		{"trailing element", `<methodCall><methodName>x</methodName></methodCall><x/>`},
		{"truncated", `<methodCall><methodName>x</methodName><params><param><value>`},
		{"unknown charset", `<?xml version="1.0" encoding="koi8-r"?><methodCall><methodName>x</methodName></methodCall>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCall(strings.NewReader(tt.doc))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestFault(t *testing.T) {
	doc := EncodeFault(&Fault{Code: 510150, Message: "bad <key>"})
	_, err := DecodeResponse(bytes.NewReader(doc))
	var f *Fault
	if !errors.As(err, &f) || f.Code != 510150 || f.Message != "bad <key>" {
		t.Fatalf("err = %v", err)
	}
}

func TestEncodeUnsupported(t *testing.T) {
	if _, err := EncodeResponse(struct{}{}); err == nil {
		t.Fatal("encoding a struct value should fail")
	}
}

// The recorded Gandi responses are what real clients parse; our decoder
// must read them, and our encoding of what it read must decode the same.
func TestRecordedGandiResponses(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) == 0 {
		t.Fatal("no recorded responses in testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := DecodeResponse(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			again, err := EncodeResponse(v)
			if err != nil {
				t.Fatal(err)
			}
			v2, err := DecodeResponse(bytes.NewReader(again))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v, v2) {
				t.Errorf("re-encoding changed the value")
			}
		})
	}
}

func FuzzDecodeCall(f *testing.F) {
	seeds := []string{
		`<methodCall><methodName>version.info</methodName><params><param><value><string>k</string></value></param></params></methodCall>`,
		`<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name><value><array><data><value><i4>1</i4></value><value><nil/></value></data></array></value></member></struct></value></param></params></methodCall>`,
		`<methodCall><methodName>x</methodName><params><param><value><dateTime.iso8601>20110324T17:14:06</dateTime.iso8601></value></param><param><value><base64>AAE=</base64></value></param></params></methodCall>`,
		phpCall("\xe9"), phpCall("&#233;"),
		"<?xml version=\"1.0\" encoding=\"windows-1252\"?><methodCall><methodName>x</methodName><params><param><value>\x80\x81\xff</value></param></params></methodCall>",
		"<?xml version=\"1.0\" encoding=\"us-ascii\"?><methodCall><methodName>x</methodName><params><param><value>\xe9</value></param></params></methodCall>",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		call, err := DecodeCall(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not classified: %v", err)
			}
			return
		}
		// Whatever decodes must re-encode and decode to the same value.
		doc, err := EncodeCall(call.Method, call.Params...)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeCall(bytes.NewReader(doc))
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, doc)
		}
		if !reflect.DeepEqual(call.Params, again.Params) {
			t.Fatalf("round trip changed params")
		}
	})
}
