package main

import (
	"reflect"
	"strings"
	"testing"
)

// call's arguments are JSON, whole numbers as integers; a bare word that
// is not JSON is a string; what starts as JSON would is JSON or an error.
func TestCallArg(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want any
		err  string
	}{
		{"12", int64(12), ""},
		{"1.5", 1.5, ""},
		{`{"memory": 1024}`, map[string]any{"memory": int64(1024)}, ""},
		{"[1, 2]", []any{int64(1), int64(2)}, ""},
		{"true", true, ""},
		{"null", nil, ""},
		{`"true"`, "true", ""},
		{"cdrom", "cdrom", ""},
		{"web 1", "web 1", ""},
		{"", "", ""},
		{`{"memory": 1024`, nil, `argument "{\"memory\": 1024" is not JSON`},
		{"[1,", nil, "is not JSON"},
		{`"open`, nil, "is not JSON"},
		{"12x", nil, `argument "12x" is not JSON`},
		{"-wiat", nil, `argument "-wiat" is not JSON`},
		{" {", nil, "is not JSON"},
	} {
		got, err := callArg(tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("callArg(%q) = %#v, %v; want an error saying %q", tc.arg, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("callArg(%q) = %#v, %v; want %#v", tc.arg, got, err, tc.want)
		}
	}
}
