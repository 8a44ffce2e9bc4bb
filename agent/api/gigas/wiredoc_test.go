package gigas

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestBodyWhateverContentType: a body is read as JSON whatever its
// Content-Type, as README and openapi.json say: the document's curl
// lines set none, and curl -d sends a form type.
func TestBodyWhateverContentType(t *testing.T) {
	a := newAgent(t)
	vm := a.createVM("ctype")
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"} {
		req, _ := http.NewRequest("PUT", a.srv.URL+a.vmPath(a.alice, vm), strings.NewReader(`{"note": "`+ct+`x"}`))
		req.Header.Set("Authorization", aliceKey)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		} else {
			req.Header["Content-Type"] = nil // Go's client sets none for a bare reader; say so
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("Content-Type %q: %d %s", ct, resp.StatusCode, raw)
		}
		// The note changes through an operation: wait for it before reading.
		var accepted reply
		if err := json.Unmarshal(raw, &accepted.body); err != nil {
			t.Fatalf("Content-Type %q: not JSON: %s", ct, raw)
		}
		a.wait(aliceKey, a.alice, accepted)
		if got := a.must(200, aliceKey, "GET", a.vmPath(a.alice, vm), nil).obj()["note"]; got != ct+"x" {
			t.Fatalf("Content-Type %q: note %v, want %q", ct, got, ct+"x")
		}
	}
	// What is not a JSON object is 400, whatever the type says.
	r := a.do(aliceKey, "PUT", a.vmPath(a.alice, vm), "note=x")
	if r.status != 400 || !strings.HasPrefix(r.obj()["message"].(string), "body:") {
		t.Fatalf("a form body: %d %s", r.status, r.raw)
	}
	// A key given twice: 400 naming it.
	r = a.do(aliceKey, "PUT", a.vmPath(a.alice, vm), `{"note": "a", "note": "b"}`)
	if r.status != 400 || !strings.HasPrefix(r.obj()["message"].(string), "note:") {
		t.Fatalf("a key twice: %d %s", r.status, r.raw)
	}
}

// TestOpenAPIPathIDPattern: the document's pattern for an id in a path
// accepts what pathID accepts, no more ("07", "+7" and "0" are 400).
func TestOpenAPIPathIDPattern(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				In     string `json:"in"`
				Name   string `json:"name"`
				Schema struct {
					Pattern string `json:"pattern"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for _, p := range op.Parameters {
				if p.In != "path" {
					continue
				}
				n++
				re, err := regexp.Compile(p.Schema.Pattern)
				if err != nil {
					t.Fatalf("%s %s %s: pattern %q: %v", method, path, p.Name, p.Schema.Pattern, err)
				}
				for _, v := range []string{"1", "7", "10", "1234567", "0", "07", "+7", "-7", " 7", "7a", ""} {
					r := httptest.NewRequest("GET", "/", nil)
					r.SetPathValue(p.Name, v)
					_, err := pathID(r, p.Name)
					if re.MatchString(v) != (err == nil) {
						t.Errorf("%s %s %s: pattern %q says %v for %q, the server %v", method, path, p.Name, p.Schema.Pattern, re.MatchString(v), v, err)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no path parameter in openapi.json")
	}
}
