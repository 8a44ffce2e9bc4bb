package gandi

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

// args reads positional arguments (after the API key) and names them in faults.
type args struct {
	obj  service.Object
	vals []any
}

func (a args) len() int { return len(a.vals) }

func (a args) int(i int, name string) (int64, error) {
	if i >= len(a.vals) {
		return 0, service.Missing(a.obj, name)
	}
	return asInt(a.obj, name, a.vals[i])
}

func (a args) str(i int, name string) (string, error) {
	if i >= len(a.vals) {
		return "", service.Missing(a.obj, name)
	}
	s, ok := a.vals[i].(string)
	if !ok {
		return "", wrongType(a.obj, name, "a string", a.vals[i])
	}
	return s, nil
}

// spec returns argument i as a struct; absent or nil is an empty struct
// when optional.
func (a args) spec(i int, name string, optional bool) (*spec, error) {
	if i >= len(a.vals) || a.vals[i] == nil {
		if optional {
			return &spec{obj: a.obj, name: name, m: map[string]any{}, used: map[string]bool{}}, nil
		}
		return nil, service.Missing(a.obj, name)
	}
	m, ok := a.vals[i].(map[string]any)
	if !ok {
		return nil, wrongType(a.obj, name, "a struct", a.vals[i])
	}
	return &spec{obj: a.obj, name: name, m: m, used: map[string]bool{}}, nil
}

// atMost rejects surplus arguments.
func (a args) atMost(n int) error {
	if len(a.vals) > n {
		return service.Errorf(service.ObjMethod, service.KindInvalid, "too many arguments: got %d, want at most %d after the API key", len(a.vals), n)
	}
	return nil
}

// Values are taken only in the XML-RPC type a field has: an <int> (or
// <i4>, <i8>) for an integer, a <boolean> for a boolean, a <string> for a
// string, an <int> or a <double> for a number. "512", true or 512.0 for
// memory is a client's bug, and guessing hides it.
func asInt(obj service.Object, name string, v any) (int64, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, wrongType(obj, name, "an integer", v)
	}
	if n > service.MaxID && isID(name) {
		return 0, service.Invalid(obj, name, "must be at most %d (XML-RPC <int> is 32 bits)", int64(service.MaxID))
	}
	return n, nil
}

// isID reports whether a field holds an id: "id" or "…_id".
func isID(name string) bool {
	return name == "id" || strings.HasSuffix(name, "_id")
}

// wrongType is the fault for a value of the wrong XML-RPC type: it names
// the field, the type it takes and the one it got (never the value, which
// may be a secret).
func wrongType(obj service.Object, name, want string, v any) *service.Error {
	if v == nil {
		return service.Invalid(obj, name, "must not be nil")
	}
	return service.Invalid(obj, name, "must be %s, got %s", want, kindOf(v))
}

// kindOf names a decoded value's XML-RPC type.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case int64:
		return "an integer"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64:
		return "a double"
	case time.Time:
		return "a dateTime.iso8601"
	case []byte:
		return "base64"
	case []any:
		return "an array"
	case map[string]any:
		return "a struct"
	}
	return fmt.Sprintf("%T", v)
}

// spec is a struct argument; every key must be read or it is reported as
// unknown by done().
type spec struct {
	obj  service.Object
	name string
	m    map[string]any
	used map[string]bool
}

// has reports whether the call gave key, even as nil: a nil the field
// does not take is refused by its reader, not taken for "absent".
func (s *spec) has(key string) bool {
	_, ok := s.m[key]
	return ok
}

func (s *spec) raw(key string) any {
	s.used[key] = true
	return s.m[key]
}

// val reads key for a typed reader: present says the call gave it, and a
// nil value is refused (no field here takes nil unless it says so).
func (s *spec) val(key string) (v any, present bool, err error) {
	s.used[key] = true
	v, present = s.m[key]
	if present && v == nil {
		return nil, true, wrongType(s.obj, key, "", nil)
	}
	return v, present, nil
}

func (s *spec) ignore(keys ...string) {
	for _, k := range keys {
		s.used[k] = true
	}
}

func (s *spec) int(key string, def int64, required bool) (int64, error) {
	v, present, err := s.val(key)
	if err != nil {
		return 0, err
	}
	if !present {
		if required {
			return 0, service.Missing(s.obj, key)
		}
		return def, nil
	}
	return asInt(s.obj, key, v)
}

func (s *spec) float(key string, def float64) (float64, error) {
	v, present, err := s.val(key)
	if err != nil || !present {
		return def, err
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, wrongType(s.obj, key, "a number (int or double)", v)
}

func (s *spec) str(key, def string, required bool) (string, error) {
	v, present, err := s.val(key)
	if err != nil {
		return "", err
	}
	if !present {
		if required {
			return "", service.Missing(s.obj, key)
		}
		return def, nil
	}
	str, ok := v.(string)
	if !ok {
		return "", wrongType(s.obj, key, "a string", v)
	}
	return str, nil
}

func (s *spec) boolean(key string, def bool) (bool, error) {
	v, present, err := s.val(key)
	if err != nil || !present {
		return def, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, wrongType(s.obj, key, "a boolean", v)
	}
	return b, nil
}

func (s *spec) time(key string) (time.Time, bool, error) {
	v, present, err := s.val(key)
	if err != nil || !present {
		return time.Time{}, false, err
	}
	switch x := v.(type) {
	case time.Time:
		return x, true, nil
	case string:
		for _, layout := range []string{"20060102T15:04:05", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), true, nil
			}
		}
	}
	if _, ok := v.(string); ok {
		return time.Time{}, false, service.Invalid(s.obj, key, "must be a dateTime.iso8601, got a string in none of its forms (such as 20060102T15:04:05)")
	}
	return time.Time{}, false, wrongType(s.obj, key, "a dateTime.iso8601", v)
}

// ints reads "int or array of int".
func (s *spec) ints(key string) ([]int64, error) {
	v, present, err := s.val(key)
	if err != nil || !present {
		return nil, err
	}
	switch x := v.(type) {
	case []any:
		out := make([]int64, 0, len(x))
		for _, v := range x {
			n, err := asInt(s.obj, key, v)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case int64:
		n, err := asInt(s.obj, key, x)
		return []int64{n}, err
	}
	return nil, wrongType(s.obj, key, "an integer or an array of integers", v)
}

// strs reads "string or array of string".
func (s *spec) strs(key string) ([]string, error) {
	v, present, err := s.val(key)
	if err != nil || !present {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			str, ok := e.(string)
			if !ok {
				return nil, wrongType(s.obj, key, "a string or an array of strings", e)
			}
			out = append(out, str)
		}
		return out, nil
	}
	return nil, wrongType(s.obj, key, "a string or an array of strings", v)
}

// done reports keys nobody read: a typo must not be silently ignored.
func (s *spec) done() error {
	var unknown []string
	for k := range s.m {
		if !s.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return service.Invalid(s.obj, s.name+"."+unknown[0], "unknown parameter")
	}
	return nil
}

// The *Ptr readers are for optional fields whose absence the service
// tells from any value (it applies the seed's default): nil when absent.

func (s *spec) intPtr(key string) (*int64, error) {
	if !s.has(key) {
		s.used[key] = true
		return nil, nil
	}
	n, err := s.int(key, 0, false)
	return &n, err
}

func (s *spec) floatPtr(key string) (*float64, error) {
	if !s.has(key) {
		s.used[key] = true
		return nil, nil
	}
	f, err := s.float(key, 0)
	return &f, err
}

func (s *spec) strPtr(key string) (*string, error) {
	if !s.has(key) {
		s.used[key] = true
		return nil, nil
	}
	str, err := s.str(key, "", false)
	return &str, err
}

func (s *spec) boolPtr(key string) (*bool, error) {
	if !s.has(key) {
		s.used[key] = true
		return nil, nil
	}
	b, err := s.boolean(key, false)
	return &b, err
}
