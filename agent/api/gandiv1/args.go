package gandiv1

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// args are a call's parameters after the session id; obj is what the
// method is about, for the faults its decoding raises.
type args struct {
	method string
	vals   []any
	obj    int
}

// count refuses fewer than min or more than max parameters (after the
// session).
func (a args) count(min, max int) error {
	if len(a.vals) < min {
		return dataFault(a.obj, CauseMissing, "", "%s: takes %d parameters after the session, got %d", a.method, min, len(a.vals))
	}
	if len(a.vals) > max {
		return dataFault(a.obj, CauseValue, "", "%s: takes at most %d parameters after the session, got %d", a.method, max, len(a.vals))
	}
	return nil
}

// MaxID bounds the ids a call may name (the service's bound).
const MaxID = math.MaxInt32

// toInt reads an int: an XML-RPC int, or a string of digits (the
// document's PHP samples send numbers as xmlrpcval("2048"), a string).
func toInt(obj int, name string, v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err == nil {
			return n, nil
		}
	}
	f := dataFault(obj, CauseType, name, "%s: must be an int", name)
	f.Value, f.ShowValue = shown(v), true
	return 0, f
}

// shown is a wrong value as a fault shows it: a short string, or the
// XML-RPC type.
func shown(v any) any {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			return strconv.Quote(x[:40]) + "..."
		}
		return strconv.Quote(x)
	case int64, float64, bool:
		return x
	case nil:
		return "nil"
	case time.Time:
		return x.Format("20060102T15:04:05")
	case []any:
		return "an array"
	case map[string]any:
		return "a struct"
	}
	return fmt.Sprintf("%T", v)
}

// id reads parameter i, an object's id.
func (a args) id(i int, name string) (int64, error) {
	n, err := toInt(a.obj, name, a.vals[i])
	if err != nil {
		return 0, err
	}
	if n < 1 || n > MaxID {
		f := dataFault(a.obj, CauseValue, name, "%s: must be between 1 and %d", name, MaxID)
		f.Value, f.ShowValue = n, true
		return 0, f
	}
	return n, nil
}

// int reads parameter i, a number.
func (a args) int(i int, name string) (int64, error) { return toInt(a.obj, name, a.vals[i]) }

// str reads parameter i, a string.
func (a args) str(i int, name string) (string, error) {
	s, ok := a.vals[i].(string)
	if !ok {
		f := dataFault(a.obj, CauseType, name, "%s: must be a string", name)
		f.Value, f.ShowValue = shown(a.vals[i]), true
		return "", f
	}
	return s, nil
}

// secret reads parameter i, a string never shown back in a fault.
func (a args) secret(i int, name string) (string, error) {
	s, ok := a.vals[i].(string)
	if !ok {
		return "", dataFault(a.obj, CauseType, name, "%s: must be a string", name)
	}
	return s, nil
}

// spec reads parameter i, a struct; absent (when optional) is empty.
func (a args) spec(i int, name string) (*spec, error) {
	if i >= len(a.vals) {
		return &spec{obj: a.obj, name: name, m: map[string]any{}, used: map[string]bool{}}, nil
	}
	m, ok := a.vals[i].(map[string]any)
	if !ok {
		f := dataFault(a.obj, CauseType, name, "%s: must be a struct", name)
		f.Value, f.ShowValue = shown(a.vals[i]), true
		return nil, f
	}
	return &spec{obj: a.obj, name: name, m: m, used: map[string]bool{}}, nil
}

// spec is a struct parameter: keys are read once each, and done refuses
// any key left unread, so a misspelt key is an error, not ignored.
type spec struct {
	obj  int
	name string
	m    map[string]any
	used map[string]bool
}

func (s *spec) field(key string) string { return s.name + "." + key }

// intPtr reads an optional int.
func (s *spec) intPtr(key string) (*int64, error) {
	s.used[key] = true
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	n, err := toInt(s.obj, s.field(key), v)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// str reads an optional string.
func (s *spec) str(key string) (string, bool, error) {
	s.used[key] = true
	v, ok := s.m[key]
	if !ok {
		return "", false, nil
	}
	str, isStr := v.(string)
	if !isStr {
		f := dataFault(s.obj, CauseType, s.field(key), "%s: must be a string", s.field(key))
		f.Value, f.ShowValue = shown(v), true
		return "", false, f
	}
	return str, true, nil
}

// date reads an optional dateTime.iso8601 (or its text).
func (s *spec) date(key string) (*time.Time, error) {
	s.used[key] = true
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	switch x := v.(type) {
	case time.Time:
		return &x, nil
	case string:
		for _, layout := range []string{"20060102T15:04:05", "20060102T150405", "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return &t, nil
			}
		}
	}
	f := dataFault(s.obj, CauseType, s.field(key), "%s: must be a dateTime.iso8601", s.field(key))
	f.Value, f.ShowValue = shown(v), true
	return nil, f
}

// done refuses the keys no read asked for.
func (s *spec) done() error {
	var extra []string
	for k := range s.m {
		if !s.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	known := make([]string, 0, len(s.used))
	for k := range s.used {
		known = append(known, k)
	}
	slices.Sort(known)
	f := dataFault(s.obj, CauseValue, s.field(extra[0]), "%s: unknown key (%s takes %s)", s.field(extra[0]), s.name, strings.Join(known, ", "))
	f.Value, f.ShowValue = shown(s.m[extra[0]]), true // a misspelt key's value is the caller's own, never a secret of v1's
	return f
}
