package gandiv1

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// samples extracts the document's samples in one language (the
// headings that start them: "* Sample code (python)", "* **Python**
// logging in...") by method (the heading above them), re-indented: the
// document lost the indentation of its Python try/except blocks, which
// hold one level each (Perl needs none).
func samples(doc, lang string) map[string]string {
	heading := regexp.MustCompile(`^={3,}\s*([a-z_]+)\s*={3,}$`)
	out := map[string]string{}
	var method string
	var cur []string
	in := false
	flush := func() {
		if in && method != "" && len(cur) > 0 {
			out[method] = reindent(cur)
		}
		in, cur = false, nil
	}
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimRight(line, "\r")
		lower := strings.ToLower(line)
		switch {
		case heading.MatchString(line):
			flush()
			method = heading.FindStringSubmatch(line)[1]
		case strings.HasPrefix(lower, "* sample code ("+lang+")"), strings.HasPrefix(lower, "* **"+lang+"**"):
			flush()
			in = true
		case strings.HasPrefix(line, "* "), strings.HasPrefix(line, `\\`), strings.HasPrefix(line, "----"), strings.HasPrefix(line, "==="):
			flush()
		case in:
			cur = append(cur, line)
		}
	}
	flush()
	return out
}

func reindent(lines []string) string {
	var b strings.Builder
	indent := ""
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "except") {
			indent = ""
		}
		b.WriteString(indent + l + "\n")
		if l == "try:" || strings.HasPrefix(l, "except") {
			indent = "    "
		}
	}
	return b.String()
}

// toPython3 is the mechanical Python 3 form of a Python 2 sample:
// xmlrpc.client for xmlrpclib, print as a function, "except E as e".
func toPython3(code string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(code, "\n") {
		body := strings.TrimLeft(l, " ")
		indent := l[:len(l)-len(body)]
		switch {
		case strings.TrimSpace(body) == "import xmlrpclib":
			l = indent + "import xmlrpc.client as xmlrpclib\n"
		case strings.HasPrefix(body, "except ") && strings.Contains(body, ", e:"):
			l = indent + strings.Replace(body, ", e:", " as e:", 1)
		case strings.HasPrefix(body, "print "):
			l = indent + "print(" + strings.TrimSuffix(strings.TrimPrefix(body, "print "), "\n") + ")\n"
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestSeedPythonSamples runs the v1 document's own Python samples against
// the face over HTTP: in Python 2 with xmlrpclib, as they are written,
// and in their mechanical Python 3 form with xmlrpc.client (toPython3).
// What changes in them: the URL, the sample ids (os_id 111, vm_id 9876,
// ...) that become the ids the earlier samples made, and one bug of the
// document's operation_list sample ("type": vm_create names an undefined
// variable; it means the variable type).
func TestSeedPythonSamples(t *testing.T) {
	for _, tc := range []struct {
		name, python string
		env          []string
		py3          bool
	}{
		{"python2 xmlrpclib as written", "python2", []string{"PYENV_VERSION=2.7.18"}, false}, // pyenv's shim picks the 2.7 it has
		{"python3 xmlrpc.client", "python3", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			py, err := exec.LookPath(tc.python)
			if err != nil {
				t.Skipf("needs %s", tc.python)
			}
			env := append(os.Environ(), tc.env...)
			if out, err := (&exec.Cmd{Path: py, Args: []string{tc.python, "-c", "import json"}, Env: env}).CombinedOutput(); err != nil {
				t.Skipf("%s does not run: %v: %s", tc.python, err, out)
			}
			runSamples(t, py, tc.python, env, tc.py3)
		})
	}
}

func runSamples(t *testing.T, py, name string, env []string, py3 bool) {
	doc, err := os.ReadFile("testdata/seed_003_hosting_v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	byMethod := samples(string(doc), "python")
	a := newAgent(t)
	ids := regexp.MustCompile(`(?m)^(vm_id|disk_id|opid|os_id) = \d+$`)
	for m, code := range byMethod {
		code = strings.ReplaceAll(code, "https://api.gandi.net/hosting/", a.url)
		code = ids.ReplaceAllString(code, "$1 = @$1@")
		if m == "operation_list" {
			code = strings.Replace(code, `"type": vm_create`, `"type": type`, 1)
		}
		if py3 {
			code = toPython3(code)
		}
		byMethod[m] = code
	}
	for _, m := range []string{"login", "vm_create", "disk_create", "operation_cancel", "os_list"} {
		if byMethod[m] == "" {
			t.Fatalf("no Python sample found for %s in the document", m)
		}
	}
	f := filepath.Join(t.TempDir(), "samples.json")
	raw, _ := json.Marshal(byMethod)
	os.WriteFile(f, raw, 0o600)
	cmd := &exec.Cmd{Path: py, Args: []string{name, "testdata/run_samples.py", f}, Env: env}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("samples failed: %v\n%s", err, out)
	}
	sections := map[string]string{}
	for _, part := range strings.Split(string(out), "=== ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		sections[name] += body
	}
	if _, ok := sections["end"]; !ok || strings.Contains(string(out), "Traceback") || strings.Contains(string(out), "never ended") {
		t.Fatalf("the samples did not all run:\n%s", out)
	}
	for _, tc := range []struct{ method, want string }{
		{"login", ""},
		{"account_currency", "FAULT 502090 DataError: account_currency: "},
		{"account_balance", "FAULT 502090 "},
		{"hosting_account_info", "'handle': 'AA1234-GANDI'"},
		{"hosting_account_product_add", "could not create a hosting_account_product_add operation: DataError: "},
		{"hosting_account_product_renew", "could not create a hosting_account_product_renew operation: DataError: "},
		{"hosting_account_product_remove", "could not create a hosting_account_product_remove operation: DataError: "},
		{"hosting_account_product_update", "could not create a hosting_account_product_update operation: DataError: "},
		{"os_list", "'name': 'Debian 12'"},
		{"vm_create", "creating VM#"},
		{"vm_info", "'hostname': 'vmtest1'"},
		{"vm_list", "VMs:\n["},
		{"vm_update", "is operation id#"},
		{"disk_create", "creating disk#"},
		{"disk_info", "'name': 'disk2GB'"},
		{"disk_attach", "created operation#"},
		{"disk_list", "disks:"},
		{"disk_detach", "created operation#"},
		{"disk_delete", "created operation#"},
		{"vm_reboot", "created operation#"},
		{"vm_stop", "created operation#"},
		{"vm_start", "created operation#"},
		{"operation_list", "operations list:\n[]"}, // the sample's dates are of 2006
		{"operation_details", "'state': 'DONE'"},
		{"operation_cancel", "because: DataError: "}, // a DONE operation cannot be cancelled
		{"vm_delete", "created operation#"},
	} {
		body, ok := sections[tc.method]
		if !ok || !strings.Contains(body, tc.want) {
			t.Errorf("%s: want %q in its output:\n%s", tc.method, tc.want, body)
		}
		if strings.Contains(body, "--- operation") && !strings.Contains(body, " DONE") {
			t.Errorf("%s: its operation did not end DONE:\n%s", tc.method, body)
		}
		expectFault := strings.Contains(tc.want, "DataError") || strings.HasPrefix(tc.want, "FAULT")
		if !expectFault && (strings.Contains(body, "could not") || strings.Contains(body, "FAULT")) {
			t.Errorf("%s: failed:\n%s", tc.method, body)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}
