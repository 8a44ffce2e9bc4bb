package gigas

import (
	"strings"
	"testing"
)

// TestParseBodyDuplicateKeys: a key given twice is refused, naming it,
// rather than the last one silently winning.
func TestParseBodyDuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		raw, wantErr string
	}{
		{`{"memory": 256, "memory": 65536}`, "memory: appears more than once"},
		{`{"label": "a", "note": {"x": 1, "x": 2}, "label": "b"}`, "label: appears more than once"},
		{`{"label": "a", "note": {"x": 1, "x": 2}}`, ""}, // nested objects are the field's own business
		{`{"memory": 256, "cpus": 1}`, ""},
		{``, ""},
	} {
		_, err := parseBody([]byte(tc.raw))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.raw, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.raw, err, tc.wantErr)
		}
	}
}
