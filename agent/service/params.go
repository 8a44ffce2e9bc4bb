package service

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// args reads positional arguments (after the API key) and names them in faults.
type args struct {
	obj  int
	vals []any
}

func (a args) len() int { return len(a.vals) }

func (a args) int(i int, name string) (int64, error) {
	if i >= len(a.vals) {
		return 0, missing(a.obj, name)
	}
	return asInt(a.obj, name, a.vals[i])
}

func (a args) str(i int, name string) (string, error) {
	if i >= len(a.vals) {
		return "", missing(a.obj, name)
	}
	s, ok := a.vals[i].(string)
	if !ok {
		return "", invalid(a.obj, name, "must be a string")
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
		return nil, missing(a.obj, name)
	}
	m, ok := a.vals[i].(map[string]any)
	if !ok {
		return nil, invalid(a.obj, name, "must be a struct")
	}
	return &spec{obj: a.obj, name: name, m: m, used: map[string]bool{}}, nil
}

// atMost rejects surplus arguments.
func (a args) atMost(n int) error {
	if len(a.vals) > n {
		return fault(ObjMethod, CauseBadParam, "too many arguments: got %d, want at most %d after the API key", len(a.vals), n)
	}
	return nil
}

func asInt(obj int, name string, v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	case string:
		var n int64
		if _, err := fmt.Sscanf(x, "%d", &n); err == nil && fmt.Sprint(n) == strings.TrimSpace(x) {
			return n, nil
		}
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, invalid(obj, name, "must be an integer")
}

// spec is a struct argument; every key must be read or it is reported as
// unknown by done().
type spec struct {
	obj  int
	name string
	m    map[string]any
	used map[string]bool
}

func (s *spec) has(key string) bool {
	v, ok := s.m[key]
	return ok && v != nil
}

func (s *spec) raw(key string) any {
	s.used[key] = true
	return s.m[key]
}

func (s *spec) ignore(keys ...string) {
	for _, k := range keys {
		s.used[k] = true
	}
}

func (s *spec) int(key string, def int64, required bool) (int64, error) {
	v := s.raw(key)
	if v == nil {
		if required {
			return 0, missing(s.obj, key)
		}
		return def, nil
	}
	return asInt(s.obj, key, v)
}

func (s *spec) float(key string, def float64) (float64, error) {
	switch x := s.raw(key).(type) {
	case nil:
		return def, nil
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	}
	return 0, invalid(s.obj, key, "must be a number")
}

func (s *spec) str(key, def string, required bool) (string, error) {
	v := s.raw(key)
	if v == nil {
		if required {
			return "", missing(s.obj, key)
		}
		return def, nil
	}
	str, ok := v.(string)
	if !ok {
		return "", invalid(s.obj, key, "must be a string")
	}
	return str, nil
}

func (s *spec) boolean(key string, def bool) (bool, error) {
	switch x := s.raw(key).(type) {
	case nil:
		return def, nil
	case bool:
		return x, nil
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	}
	return false, invalid(s.obj, key, "must be a boolean")
}

func (s *spec) time(key string) (time.Time, bool, error) {
	switch x := s.raw(key).(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x, true, nil
	case string:
		for _, layout := range []string{"20060102T15:04:05", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), true, nil
			}
		}
	}
	return time.Time{}, false, invalid(s.obj, key, "must be a dateTime.iso8601")
}

// ints reads "int or array of int".
func (s *spec) ints(key string) ([]int64, error) {
	switch x := s.raw(key).(type) {
	case nil:
		return nil, nil
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
	default:
		n, err := asInt(s.obj, key, x)
		if err != nil {
			return nil, err
		}
		return []int64{n}, nil
	}
}

// strs reads "string or array of string".
func (s *spec) strs(key string) ([]string, error) {
	switch x := s.raw(key).(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, v := range x {
			str, ok := v.(string)
			if !ok {
				return nil, invalid(s.obj, key, "must be a string or an array of strings")
			}
			out = append(out, str)
		}
		return out, nil
	}
	return nil, invalid(s.obj, key, "must be a string or an array of strings")
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
		return invalid(s.obj, s.name+"."+unknown[0], "unknown parameter")
	}
	return nil
}

// paging reads items_per_page and page.
func (s *spec) paging() (perPage, page int64, err error) {
	if perPage, err = s.int("items_per_page", 100, false); err != nil {
		return
	}
	if perPage < 1 || perPage > 500 {
		return 0, 0, invalid(s.obj, "items_per_page", "must be between 1 and 500")
	}
	if page, err = s.int("page", 0, false); err != nil {
		return
	}
	if page < 0 {
		return 0, 0, invalid(s.obj, "page", "must not be negative")
	}
	if page > maxPage(perPage) {
		return 0, 0, invalid(s.obj, "page", "must be at most %d with items_per_page %d (its first item's offset, page × items_per_page, must fit in 63 bits)", maxPage(perPage), perPage)
	}
	return
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func page[T any](items []T, perPage, page int64) []T {
	// Divide rather than multiply: perPage × page may not fit in an int64.
	n := int64(len(items))
	if perPage < 1 || page < 0 || page > n/perPage || page == n/perPage && n%perPage == 0 {
		return []T{}
	}
	start := perPage * page
	end := min(start+perPage, int64(len(items)))
	return items[start:end]
}
