package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxDepth bounds the nesting of arrays and structs in a decoded document.
const MaxDepth = 64

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed xml-rpc")

// Fault is an XML-RPC fault: the error a method returns to its caller.
type Fault struct {
	Code    int
	Message string
}

func (f *Fault) Error() string { return fmt.Sprintf("fault %d: %s", f.Code, f.Message) }

// Call is a decoded methodCall.
type Call struct {
	Method string
	Params []any
}

// Time layouts accepted for dateTime.iso8601; the first one is emitted,
// as Gandi and Python's xmlrpc.client do.
var timeLayouts = []string{
	"20060102T15:04:05",
	"20060102T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05Z07:00",
	"20060102T150405",
	// A date alone is midnight UTC: Python's xmlrpclib.DateTime("2006-01-01")
	// sends it as given (the Gandi v1 document's operation_list sample).
	"2006-01-02",
	"20060102",
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

type decoder struct {
	d *xml.Decoder
	// badCharset is the fault for a declared charset we cannot decode.
	badCharset error
}

func newDecoder(r io.Reader) *decoder {
	d := xml.NewDecoder(r)
	d.Strict = true
	dec := &decoder{d: d}
	// The charsets real clients declare are decoded (charset.go); any
	// other is an error naming it, not silent mojibake.
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if r, ok := charsetReader(charset, input); ok {
			return r, nil
		}
		dec.badCharset = malformed("unsupported charset %q (accepted: %s)", truncate(charset), Charsets)
		return nil, dec.badCharset
	}
	return dec
}

// next returns the next start or end element, skipping whitespace,
// comments, processing instructions and directives. Non-blank text
// between elements is an error.
func (d *decoder) next() (xml.Token, error) {
	for {
		tok, err := d.d.Token()
		if err != nil {
			if d.badCharset != nil {
				return nil, d.badCharset
			}
			if err == io.EOF {
				return nil, malformed("unexpected end of document")
			}
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, malformed("unexpected text %q", truncate(string(t)))
			}
		}
	}
}

func (d *decoder) expectStart(name string) error {
	tok, err := d.next()
	if err != nil {
		return err
	}
	se, ok := tok.(xml.StartElement)
	if !ok || se.Name.Local != name {
		return malformed("expected <%s>, found %s", name, describe(tok))
	}
	return nil
}

func (d *decoder) expectEnd(name string) error {
	tok, err := d.next()
	if err != nil {
		return err
	}
	ee, ok := tok.(xml.EndElement)
	if !ok || ee.Name.Local != name {
		return malformed("expected </%s>, found %s", name, describe(tok))
	}
	return nil
}

// text reads character data up to the end of the current element.
func (d *decoder) text(name string) (string, error) {
	var sb strings.Builder
	for {
		tok, err := d.d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.EndElement:
			if t.Name.Local != name {
				return "", malformed("expected </%s>", name)
			}
			return sb.String(), nil
		case xml.StartElement:
			return "", malformed("unexpected <%s> inside <%s>", t.Name.Local, name)
		}
	}
}

// value decodes the content of a <value> element whose start tag has been
// consumed, through its end tag.
func (d *decoder) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, malformed("nesting deeper than %d", MaxDepth)
	}
	var sb strings.Builder
	for {
		tok, err := d.d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.EndElement:
			// A bare <value>text</value> is a string.
			return sb.String(), nil
		case xml.StartElement:
			if strings.TrimSpace(sb.String()) != "" {
				return nil, malformed("text mixed with <%s>", t.Name.Local)
			}
			v, err := d.typed(t.Name.Local, depth)
			if err != nil {
				return nil, err
			}
			return v, d.expectEnd("value")
		}
	}
}

func (d *decoder) typed(kind string, depth int) (any, error) {
	switch kind {
	case "nil":
		return nil, d.expectEnd("nil")
	case "struct":
		return d.structBody(depth)
	case "array":
		return d.arrayBody(depth)
	}
	s, err := d.text(kind)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, malformed("bad <%s> %q", kind, truncate(s))
		}
		if kind != "i8" && (n > math.MaxInt32 || n < math.MinInt32) {
			return nil, malformed("<%s> %d out of 32-bit range", kind, n)
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, malformed("bad <boolean> %q", truncate(s))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, malformed("bad <double> %q", truncate(s))
		}
		return f, nil
	case "dateTime.iso8601":
		s = strings.TrimSpace(s)
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, malformed("bad <dateTime.iso8601> %q", truncate(s))
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, malformed("bad <base64>: %v", err)
		}
		return b, nil
	}
	return nil, malformed("unknown type <%s>", kind)
}

func (d *decoder) structBody(depth int) (any, error) {
	m := map[string]any{}
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "struct" {
			return m, nil
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "member" {
			return nil, malformed("expected <member>, found %s", describe(tok))
		}
		if err := d.expectStart("name"); err != nil {
			return nil, err
		}
		name, err := d.text("name")
		if err != nil {
			return nil, err
		}
		if err := d.expectStart("value"); err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, malformed("duplicate struct member %q", truncate(name))
		}
		m[name] = v
		if err := d.expectEnd("member"); err != nil {
			return nil, err
		}
	}
}

func (d *decoder) arrayBody(depth int) (any, error) {
	if err := d.expectStart("data"); err != nil {
		return nil, err
	}
	out := []any{}
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "data" {
			return out, d.expectEnd("array")
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "value" {
			return nil, malformed("expected <value>, found %s", describe(tok))
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// params decodes <params> (its start consumed) into a slice.
func (d *decoder) params() ([]any, error) {
	out := []any{}
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "params" {
			return out, nil
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "param" {
			return nil, malformed("expected <param>, found %s", describe(tok))
		}
		if err := d.expectStart("value"); err != nil {
			return nil, err
		}
		v, err := d.value(1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if err := d.expectEnd("param"); err != nil {
			return nil, err
		}
	}
}

// end checks that nothing but whitespace and comments follows the root.
func (d *decoder) end() error {
	for {
		tok, err := d.d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return malformed("trailing text after document")
			}
		case xml.StartElement, xml.EndElement:
			return malformed("trailing element after document")
		}
	}
}

// DecodeCall parses a methodCall document.
func DecodeCall(r io.Reader) (*Call, error) {
	d := newDecoder(r)
	if err := d.expectStart("methodCall"); err != nil {
		return nil, err
	}
	if err := d.expectStart("methodName"); err != nil {
		return nil, err
	}
	name, err := d.text("methodName")
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, malformed("empty methodName")
	}
	call := &Call{Method: name, Params: []any{}}
	tok, err := d.next()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if t.Name.Local != "params" {
			return nil, malformed("expected <params>, found <%s>", t.Name.Local)
		}
		if call.Params, err = d.params(); err != nil {
			return nil, err
		}
		if err := d.expectEnd("methodCall"); err != nil {
			return nil, err
		}
	case xml.EndElement:
		if t.Name.Local != "methodCall" {
			return nil, malformed("expected </methodCall>")
		}
	}
	return call, d.end()
}

// DecodeResponse parses a methodResponse document. A fault is returned as
// a *Fault error.
func DecodeResponse(r io.Reader) (any, error) {
	d := newDecoder(r)
	if err := d.expectStart("methodResponse"); err != nil {
		return nil, err
	}
	tok, err := d.next()
	if err != nil {
		return nil, err
	}
	se, ok := tok.(xml.StartElement)
	if !ok {
		return nil, malformed("empty methodResponse")
	}
	switch se.Name.Local {
	case "params":
		ps, err := d.params()
		if err != nil {
			return nil, err
		}
		if len(ps) != 1 {
			return nil, malformed("response has %d params, want 1", len(ps))
		}
		if err := d.expectEnd("methodResponse"); err != nil {
			return nil, err
		}
		return ps[0], d.end()
	case "fault":
		if err := d.expectStart("value"); err != nil {
			return nil, err
		}
		v, err := d.value(1)
		if err != nil {
			return nil, err
		}
		if err := d.expectEnd("fault"); err != nil {
			return nil, err
		}
		if err := d.expectEnd("methodResponse"); err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, malformed("fault value is not a struct")
		}
		code, _ := m["faultCode"].(int64)
		msg, _ := m["faultString"].(string)
		return nil, &Fault{Code: int(code), Message: msg}
	}
	return nil, malformed("unexpected <%s> in methodResponse", se.Name.Local)
}

// encoder writes XML-RPC values. Unsupported Go types are a programming
// error and reported as such rather than silently dropped.
type encoder struct {
	buf bytes.Buffer
	err error
}

func (e *encoder) str(s string) {
	_ = xml.EscapeText(&e.buf, []byte(s))
}

func (e *encoder) value(v any) {
	e.buf.WriteString("<value>")
	e.typed(v)
	e.buf.WriteString("</value>")
}

func (e *encoder) typed(v any) {
	switch x := v.(type) {
	case nil:
		e.buf.WriteString("<nil/>")
	case bool:
		if x {
			e.buf.WriteString("<boolean>1</boolean>")
		} else {
			e.buf.WriteString("<boolean>0</boolean>")
		}
	case string:
		e.buf.WriteString("<string>")
		e.str(x)
		e.buf.WriteString("</string>")
	case int:
		e.int(int64(x))
	case int64:
		e.int(x)
	case int32:
		e.int(int64(x))
	case uint32:
		e.int(int64(x))
	case float64:
		e.buf.WriteString("<double>")
		e.buf.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		e.buf.WriteString("</double>")
	case time.Time:
		e.buf.WriteString("<dateTime.iso8601>")
		e.buf.WriteString(x.UTC().Format(timeLayouts[0]))
		e.buf.WriteString("</dateTime.iso8601>")
	case []byte:
		e.buf.WriteString("<base64>")
		e.buf.WriteString(base64.StdEncoding.EncodeToString(x))
		e.buf.WriteString("</base64>")
	case []any:
		e.buf.WriteString("<array><data>")
		for _, el := range x {
			e.value(el)
		}
		e.buf.WriteString("</data></array>")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.buf.WriteString("<struct>")
		for _, k := range keys {
			e.buf.WriteString("<member><name>")
			e.str(k)
			e.buf.WriteString("</name>")
			e.value(x[k])
			e.buf.WriteString("</member>")
		}
		e.buf.WriteString("</struct>")
	default:
		e.reflected(v)
	}
}

func (e *encoder) int(n int64) {
	if n > math.MaxInt32 || n < math.MinInt32 {
		// Standard clients reject <i8>; a double keeps the value readable.
		e.buf.WriteString("<double>")
		e.buf.WriteString(strconv.FormatInt(n, 10))
		e.buf.WriteString("</double>")
		return
	}
	e.buf.WriteString("<int>")
	e.buf.WriteString(strconv.FormatInt(n, 10))
	e.buf.WriteString("</int>")
}

// reflected handles typed slices and maps ([]int64, []map[string]any...).
func (e *encoder) reflected(v any) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		e.buf.WriteString("<array><data>")
		for i := 0; i < rv.Len(); i++ {
			e.value(rv.Index(i).Interface())
		}
		e.buf.WriteString("</data></array>")
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			e.fail(v)
			return
		}
		m := make(map[string]any, rv.Len())
		for _, k := range rv.MapKeys() {
			m[k.String()] = rv.MapIndex(k).Interface()
		}
		e.typed(m)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Uint8, reflect.Uint16:
		e.int(rv.Int())
	case reflect.Pointer:
		if rv.IsNil() {
			e.typed(nil)
			return
		}
		e.typed(rv.Elem().Interface())
	default:
		e.fail(v)
	}
}

func (e *encoder) fail(v any) {
	if e.err == nil {
		e.err = fmt.Errorf("xmlrpc: cannot encode %T", v)
	}
	e.buf.WriteString("<nil/>")
}

// EncodeResponse returns a methodResponse carrying v.
func EncodeResponse(v any) ([]byte, error) {
	var e encoder
	e.buf.WriteString(xml.Header)
	e.buf.WriteString("<methodResponse><params><param>")
	e.value(v)
	e.buf.WriteString("</param></params></methodResponse>\n")
	return e.buf.Bytes(), e.err
}

// EncodeFault returns a methodResponse carrying a fault.
func EncodeFault(f *Fault) []byte {
	var e encoder
	e.buf.WriteString(xml.Header)
	e.buf.WriteString("<methodResponse><fault>")
	e.value(map[string]any{"faultCode": int64(f.Code), "faultString": f.Message})
	e.buf.WriteString("</fault></methodResponse>\n")
	return e.buf.Bytes()
}

// EncodeCall returns a methodCall document.
func EncodeCall(method string, params ...any) ([]byte, error) {
	var e encoder
	e.buf.WriteString(xml.Header)
	e.buf.WriteString("<methodCall><methodName>")
	e.str(method)
	e.buf.WriteString("</methodName><params>")
	for _, p := range params {
		e.buf.WriteString("<param>")
		e.value(p)
		e.buf.WriteString("</param>")
	}
	e.buf.WriteString("</params></methodCall>\n")
	return e.buf.Bytes(), e.err
}

func describe(tok xml.Token) string {
	switch t := tok.(type) {
	case xml.StartElement:
		return "<" + t.Name.Local + ">"
	case xml.EndElement:
		return "</" + t.Name.Local + ">"
	}
	return fmt.Sprintf("%T", tok)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
