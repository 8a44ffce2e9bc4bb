package gigas

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The OpenAPI document is checked against the server both ways: every
// route of the table is in the document with the same path parameters
// and every path of the document is a route (TestOpenAPIRoutes); every
// answer any test of this package gets, status and body, is one the
// document declares for its route, every field declared and every
// required field present (checkSeen, run when each test ends); and one
// scenario reaches every route (TestOpenAPICoverage).

type oaDoc struct {
	Paths      map[string]map[string]oaOp `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

type oaOp struct {
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// schema is the subset of OpenAPI 3.0's schemas the document uses.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Nullable             bool               `json:"nullable"`
	Enum                 []any              `json:"enum"`
	Pattern              string             `json:"pattern"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	OneOf                []*schema          `json:"oneOf"`
}

func loadDoc(t *testing.T) *oaDoc {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(openAPIDoc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

// validate lists how v breaks s (empty: it conforms).
func (d *oaDoc) validate(s *schema, v any, at string) []string {
	if s.Ref != "" {
		return d.validate(d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")], v, at)
	}
	if len(s.OneOf) > 0 {
		n := 0
		var why []string
		for _, o := range s.OneOf {
			if e := d.validate(o, v, at); len(e) == 0 {
				n++
			} else {
				why = append(why, e...)
			}
		}
		if n != 1 {
			return []string{fmt.Sprintf("%s: matches %d of oneOf's schemas (%s)", at, n, strings.Join(why, "; "))}
		}
		return nil
	}
	if v == nil {
		if s.Nullable || s.Type == "" {
			return nil
		}
		return []string{at + ": null, not nullable"}
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", at, v, s.Enum)}
	}
	switch s.Type {
	case "string":
		str, ok := v.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not a string", at, v)}
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			return []string{fmt.Sprintf("%s: %q does not match %s", at, str, s.Pattern)}
		}
	case "integer", "number":
		f, ok := v.(float64)
		if !ok || (s.Type == "integer" && f != math.Trunc(f)) {
			return []string{fmt.Sprintf("%s: %v is not a %s", at, v, s.Type)}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{fmt.Sprintf("%s: %v is not a boolean", at, v)}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: not an array", at)}
		}
		var out []string
		for i, x := range l {
			out = append(out, d.validate(s.Items, x, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: not an object", at)}
		}
		var out []string
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				out = append(out, at+"."+r+": required, absent")
			}
		}
		var extra *schema
		closed := string(s.AdditionalProperties) == "false"
		if len(s.AdditionalProperties) > 0 && !closed && string(s.AdditionalProperties) != "true" {
			extra = &schema{}
			json.Unmarshal(s.AdditionalProperties, extra)
		}
		for k, x := range m {
			p, ok := s.Properties[k]
			switch {
			case ok:
				out = append(out, d.validate(p, x, at+"."+k)...)
			case extra != nil:
				out = append(out, d.validate(extra, x, at+"."+k)...)
			case closed:
				out = append(out, at+"."+k+": not declared")
			}
		}
		return out
	}
	return nil
}

// routeMux finds the pattern a request is served under.
func routeMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range (&Server{}).table() {
		mux.HandleFunc(rt.method+" "+rt.path, func(http.ResponseWriter, *http.Request) {})
	}
	return mux
}

var paramRE = regexp.MustCompile(`\{([a-z_]+)\}`)

func TestOpenAPIRoutes(t *testing.T) {
	d := loadDoc(t)
	served := map[string]bool{}
	for _, rt := range (&Server{}).table() {
		key := rt.method + " " + rt.path
		served[key] = true
		op, ok := d.Paths[rt.path][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("%s: served, not in openapi.json", key)
			continue
		}
		var want, got []string
		for _, m := range paramRE.FindAllStringSubmatch(rt.path, -1) {
			want = append(want, m[1])
		}
		for _, p := range op.Parameters {
			if p.In == "path" {
				got = append(got, p.Name)
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: path parameters %v, the document says %v", key, want, got)
		}
		if len(op.Responses) == 0 {
			t.Errorf("%s: no responses declared", key)
		}
	}
	for p, ops := range d.Paths {
		for m := range ops {
			if key := strings.ToUpper(m) + " " + p; !served[key] {
				t.Errorf("%s: in openapi.json, not served", key)
			}
		}
	}
}

// checkSeen checks every answer the test got against the document.
func (a *agent) checkSeen(t *testing.T) {
	d := loadDoc(t)
	mux := routeMux()
	for _, o := range a.seen {
		req, _ := http.NewRequest(o.method, "http://x"+o.path, nil)
		_, pattern := mux.Handler(req)
		method, path, ok := strings.Cut(pattern, " ")
		if ok && method != o.method && o.status == http.StatusMethodNotAllowed {
			d.check405(t, o, path)
			continue
		}
		if !ok || method != o.method {
			continue // no route: the catch-all's 404, in the Error shape
		}
		op := d.Paths[path][strings.ToLower(method)]
		resp, ok := op.Responses[strconv.Itoa(o.status)]
		if !ok {
			t.Errorf("%s %s: status %d is not declared for %s (%s)", o.method, o.path, o.status, pattern, o.raw)
			continue
		}
		c, ok := resp.Content["application/json"]
		if !ok || c.Schema == nil {
			continue
		}
		for _, e := range d.validate(c.Schema, o.body, "body") {
			t.Errorf("%s %s %d: %s", o.method, o.path, o.status, e)
		}
	}
}

// check405 checks a 405 answer to a method path does not serve: every
// operation of the path declares it, the body is the declared one and
// Allow lists exactly the path's methods (HEAD aside, which the mux adds
// to a GET).
func (d *oaDoc) check405(t *testing.T, o observed, path string) {
	t.Helper()
	var want []string
	for m, op := range d.Paths[path] {
		want = append(want, strings.ToUpper(m))
		resp, ok := op.Responses["405"]
		if !ok {
			t.Errorf("%s %s: status 405 is not declared for %s %s (%s)", o.method, o.path, strings.ToUpper(m), path, o.raw)
			continue
		}
		if c, ok := resp.Content["application/json"]; ok && c.Schema != nil {
			for _, e := range d.validate(c.Schema, o.body, "body") {
				t.Errorf("%s %s 405: %s", o.method, o.path, e)
			}
		}
	}
	var got []string
	for _, m := range strings.Split(o.header.Get("Allow"), ",") {
		if m = strings.TrimSpace(m); m != "HEAD" {
			got = append(got, m)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s %s 405: Allow %q, the document's methods %v", o.method, o.path, o.header.Get("Allow"), want)
	}
}

// TestOpenAPIMethodNotAllowed: every path of the document answers a
// method it does not serve with 405 and Allow, as the document says
// (checkSeen checks each answer when the test ends).
func TestOpenAPIMethodNotAllowed(t *testing.T) {
	a := newAgent(t)
	d := loadDoc(t)
	acct := strconv.FormatInt(a.alice, 10)
	for path, ops := range d.Paths {
		// A method the API serves on other paths, PATCH when the path
		// has them all.
		method := "PATCH"
		for _, m := range []string{"post", "put", "delete", "get"} {
			if _, ok := ops[m]; !ok {
				method = strings.ToUpper(m)
				break
			}
		}
		concrete := paramRE.ReplaceAllStringFunc(path, func(p string) string {
			if p == "{account_id}" {
				return acct
			}
			return "7"
		})
		r := a.must(405, aliceKey, method, concrete, nil)
		if r.obj()["code"] != CodeMethod || r.header.Get("Allow") == "" {
			t.Errorf("%s %s: %s %v", method, concrete, r.raw, r.header)
		}
		for m, op := range ops {
			if _, ok := op.Responses["405"]; !ok {
				t.Errorf("%s %s: the server answers 405, openapi.json does not declare it", strings.ToUpper(m), path)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	a := newAgent(t)
	r := a.must(200, "", "GET", OpenAPIPath, nil)
	if r.obj()["openapi"] != "3.0.3" {
		t.Fatalf("%s", r.raw)
	}
}

// TestOpenAPICoverage runs the lifecycle and the calls it does not make,
// then checks that every route was reached.
func TestOpenAPICoverage(t *testing.T) {
	a := newAgent(t)
	coverageRun(t, a)
	mux := routeMux()
	reached := map[string]bool{}
	for _, o := range a.seen {
		req, _ := http.NewRequest(o.method, "http://x"+o.path, nil)
		_, pattern := mux.Handler(req)
		reached[pattern] = true
	}
	for _, rt := range (&Server{}).table() {
		if key := rt.method + " " + rt.path; !reached[key] {
			t.Errorf("%s: no test reaches it", key)
		}
	}
}

// coverageRun is the lifecycle and the calls it does not make: together
// they reach every route (TestOpenAPICoverage checks that).
func coverageRun(t *testing.T, a *agent) {
	lifecycle(t, a)
	id, _ := a.bareVM("cover1", false)
	path := a.vmPath(a.alice, id)
	a.must(404, aliceKey, "POST", path+"/network_interface", map[string]any{"network_interface_id": "999"})
	add := a.must(202, aliceKey, "POST", path+"/network_interface", map[string]any{"primary": "false", "label": "eth1", "rate_limit": "50"})
	a.wait(aliceKey, a.alice, add)
	ifaces := a.must(200, aliceKey, "GET", path+"/network_interfaces?interface_label=eth0", nil).list()
	if len(ifaces) != 1 || ifaces[0].(map[string]any)["rate_limit"] != 50.0 || ifaces[0].(map[string]any)["primary"] != true {
		t.Fatalf("added iface: %v", ifaces)
	}
	a.must(412, aliceKey, "POST", path+"/network_interface", map[string]any{"primary": "true"}) // TestAddIfaceStatus has the rest
	a.must(404, aliceKey, "POST", path+"/iso", map[string]any{"iso_id": 7})
	a.must(404, aliceKey, "DELETE", path+"/iso/7", nil)
	con := a.must(200, aliceKey, "GET", path+"/remote_console", nil).obj() // TestRemoteConsole has the rest
	if !strings.HasPrefix(con["url"].(string), "http://agent.test:8080/console/") {
		t.Fatalf("console: %v", con)
	}
	cpu := a.must(200, aliceKey, "GET", path+"/cpu_stats?period=-1H", nil).obj()
	if data := cpu["data"].([]any); cpu["lapse"] != "last hour" || len(data) < 2 || data[0] != nil || data[1] != 50.0 {
		t.Fatalf("cpu_stats: %v", cpu)
	}
	a.must(400, aliceKey, "GET", path+"/cpu_stats?period=-2H", nil)
	bw := a.must(200, aliceKey, "GET", path+"/bw_stats?period=-1day", nil).obj()
	tr := bw["traffic"].([]any)[0].([]any)[0].(map[string]any)
	if pt := tr["data"].(map[string]any)["1"].(map[string]any); pt["traffic_in"].(float64) <= 0 || tr["data"].(map[string]any)["0"] != nil {
		t.Fatalf("bw_stats: %v", bw)
	}
	a.must(400, aliceKey, "GET", path+"/bw_stats", nil)
	a.must(501, aliceKey, "DELETE", acctPath(a.alice)+"/virtual_machine/"+id+"/segregation/1", nil)
	a.must(202, aliceKey, "POST", path+"/rebuild_network", nil) // TestNoOps has the rest
	a.must(200, aliceKey, "POST", path+"/apply_disks", nil)
	a.must(404, aliceKey, "GET", acctPath(a.alice)+"/operation/999999", nil)
	a.must(200, "", "GET", OpenAPIPath, nil)
}
