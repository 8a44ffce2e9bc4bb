package gigas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// body is a request's JSON object. The document's examples send numbers
// and booleans as strings ({"memory": "1024"}, {"force": "true"}): every
// getter takes both. Each field read is marked; done refuses the rest,
// naming them, so a misspelt field is an error and not silently ignored.
type body struct {
	fields map[string]json.RawMessage
	used   map[string]bool
}

// readRaw reads r's body, bounded by maxBytes (413).
func readRaw(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
				Msg: fmt.Sprintf("body: larger than %d bytes", maxBytes)}
		}
		return nil, invalid("body", "cannot be read: "+err.Error())
	}
	return raw, nil
}

// parseBody decodes a body read by readRaw: a JSON object, empty is {}.
func parseBody(raw []byte) (*body, error) {
	b := &body{fields: map[string]json.RawMessage{}, used: map[string]bool{}}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	if err := json.Unmarshal(raw, &b.fields); err != nil {
		return nil, invalid("body", "must be a JSON object: "+err.Error())
	}
	if dup := duplicateKey(raw); dup != "" {
		return nil, invalid(dup, "appears more than once in the body")
	}
	return b, nil
}

// duplicateKey is the first key the object raw (valid JSON) names twice,
// "" none. encoding/json keeps the last of them silently, where a proxy
// or a log that reads the first would see another request than the
// service acts on ({"memory": 256, "memory": 65536}).
func duplicateKey(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := t.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

func (b *body) has(key string) bool {
	v, ok := b.fields[key]
	return ok && string(v) != "null"
}

// raw returns the field's value, marked used; ok false when absent or null.
func (b *body) raw(key string) (json.RawMessage, bool) {
	b.used[key] = true
	v, ok := b.fields[key]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// scalar is the field's text: a JSON string's content, or a number's or
// a boolean's literal.
func (b *body) scalar(key string) (string, bool, error) {
	v, ok := b.raw(key)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, true, nil
	}
	t := strings.TrimSpace(string(v))
	if t == "" || t[0] == '{' || t[0] == '[' {
		return "", true, invalid(key, "must be a string, a number or a boolean")
	}
	return t, true, nil
}

// str is a string field; a number is refused (a hostname is no number).
func (b *body) str(key string) (*string, error) {
	v, ok := b.raw(key)
	if !ok {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, invalid(key, "must be a string")
	}
	return &s, nil
}

// int is an integer field, a JSON number or a string holding one.
func (b *body) int(key string) (*int64, error) {
	s, ok, err := b.scalar(key)
	if !ok || err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return nil, invalid(key, fmt.Sprintf("must be an integer, got %q", s))
	}
	return &n, nil
}

// bool is a boolean field: true/false, 1/0, as JSON or as a string.
func (b *body) bool(key string) (*bool, error) {
	s, ok, err := b.scalar(key)
	if !ok || err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		t := true
		return &t, nil
	case "false", "0":
		f := false
		return &f, nil
	}
	return nil, invalid(key, fmt.Sprintf("must be true or false, got %q", s))
}

// ignore marks fields the face accepts and does nothing with (the
// document's deprecated max_memory, say).
func (b *body) ignore(keys ...string) {
	for _, k := range keys {
		b.used[k] = true
	}
}

// done refuses the fields no getter read.
func (b *body) done() error {
	var extra []string
	for k := range b.fields {
		if !b.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return invalid(extra[0], "unknown parameter for this call"+others(extra[1:]))
}

func others(rest []string) string {
	if len(rest) == 0 {
		return ""
	}
	return " (and " + strings.Join(rest, ", ") + ")"
}

// set lists the fields given, for calls whose meaning depends on them.
func (b *body) set() []string {
	var out []string
	for k, v := range b.fields {
		if string(v) != "null" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
