package gandiv1

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// perlFixes are the document's Perl bugs, each found in its samples and
// none about the API: a hash element written as an array's
// ($specs["size"] is @specs's, so the struct went empty), a statement
// without its semicolon (my $filter = {}), a type XMLRPC::Lite does not
// know ("datetime": its name is "dateTime"), and a test of $opid in samples
// whose result is another variable (vm_create's $vm_id, disk_create's
// $disk_id, hosting_account_info's $info), which always reported
// failure.
func perlFixes(code string) string {
	code = regexp.MustCompile(`\$(specs|filter)\["(\w+)"\]`).ReplaceAllString(code, `$$$1->{"$2"}`)
	code = regexp.MustCompile(`(?m)^my \$filter = \{\}$`).ReplaceAllString(code, `my $$filter = {};`)
	code = strings.ReplaceAll(code, `->type("datetime")`, `->type("dateTime")`)
	if m := regexp.MustCompile(`my \$(\w+) = \$reply->result\(\);`).FindStringSubmatch(code); m != nil {
		code = strings.ReplaceAll(code, "unless (defined $opid)", "unless (defined $"+m[1]+")")
	}
	return code
}

// perlSteps are the document's user case in Perl: each method's sample in
// a block of its own (they all declare my $reply), then what the driver
// does before the next (keep an id, wait for an operation).
var perlSteps = []struct{ method, after string }{
	{"account_currency", ""},
	{"account_balance", ""},
	{"hosting_account_info", ""},
	{"hosting_account_product_add", ""},
	{"os_list", "$main::OS = $oslst->[0]{id};"},
	{"vm_create", `$main::VM = $vm_id; wait_op(last_op("vm_create"));`},
	{"vm_info", ""},
	{"vm_list", ""},
	{"vm_update", "wait_op($opid);"},
	{"disk_create", `$main::DISK = $disk_id; wait_op(last_op("disk_create"));`},
	{"disk_info", ""},
	{"disk_attach", "wait_op($opid);"},
	{"disk_list", ""},
	{"disk_detach", "wait_op($opid);"},
	{"disk_delete", "wait_op($opid);"},
	{"vm_reboot", "wait_op($opid);"},
	{"vm_stop", "wait_op($opid);"},
	{"vm_start", "wait_op($opid);"},
	{"vm_stop", `wait_op($opid); $main::OPID = last_op("vm_stop");`},
	{"operation_list", ""},
	{"operation_details", ""},
	{"operation_cancel", ""},
	{"vm_delete", "wait_op($opid);"},
}

// TestSeedPerlSamples runs the v1 document's Perl samples (XMLRPC::Lite)
// against the face over HTTP, in the user case's order. What changes in
// them: the URL, the sample ids (my $vm_id = 9876; ...) that become the
// ids the earlier samples made, and the document's Perl bugs (perlFixes).
func TestSeedPerlSamples(t *testing.T) {
	if out, err := exec.Command("perl", "-MXMLRPC::Lite", "-MData::Dumper", "-e", "1").CombinedOutput(); err != nil {
		t.Skipf("needs perl with XMLRPC::Lite (Debian: libxmlrpc-lite-perl): %v: %s", err, out)
	}
	doc, err := os.ReadFile("testdata/seed_003_hosting_v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	byMethod := samples(string(doc), "perl")
	a := newAgent(t)
	ids := map[string]string{"vm_id": "$main::VM", "disk_id": "$main::DISK", "opid": "$main::OPID", "os_id": "$main::OS"}
	idRE := regexp.MustCompile(`(?m)^my \$(vm_id|disk_id|opid|os_id) = \d+;$`)
	prep := func(m string) string {
		code, ok := byMethod[m]
		if !ok {
			t.Fatalf("no Perl sample for %s in the document", m)
		}
		code = strings.ReplaceAll(code, "https://api.gandi.net/hosting/", a.url)
		code = idRE.ReplaceAllStringFunc(code, func(s string) string {
			v := idRE.FindStringSubmatch(s)[1]
			return "my $" + v + " = " + ids[v] + ";"
		})
		return perlFixes(code)
	}
	var b strings.Builder
	b.WriteString("use XMLRPC::Lite;\nuse Data::Dumper;\n$Data::Dumper::Sortkeys = 1;\n$| = 1;\nprint \"=== login\\n\";\n")
	b.WriteString(prep("login"))
	b.WriteString(`
sub wait_op {
    my ($id) = @_;
    for (1 .. 6000) {
        my $st = $proxy->call("operation_details", $session, $id)->result()->{state};
        if ($st =~ /^(DONE|ERROR|CANCEL)$/) { print "--- operation $id $st\n"; return }
        select(undef, undef, undef, 0.01);
    }
    print "--- operation $id never ended\n";
}
sub last_op { return $proxy->call("operation_list", $session, {type => $_[0]})->result()->[0] }
`)
	for _, st := range perlSteps {
		b.WriteString("print \"=== " + st.method + "\\n\";\n{\n" + prep(st.method) + st.after + "\n}\n")
	}
	b.WriteString("print \"=== end\\n\";\n")
	script := filepath.Join(t.TempDir(), "samples.pl")
	os.WriteFile(script, []byte(b.String()), 0o600)
	out, err := exec.Command("perl", script).CombinedOutput()
	if err != nil {
		t.Fatalf("samples failed: %v\n%s\nscript:\n%s", err, out, b.String())
	}
	sections := map[string]string{}
	for _, part := range strings.Split(string(out), "=== ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		sections[name] += body
	}
	if _, ok := sections["end"]; !ok || strings.Contains(string(out), "never ended") {
		t.Fatalf("the samples did not all run:\n%s", out)
	}
	for _, tc := range []struct{ method, want string }{
		{"hosting_account_info", "'handle' => 'AA1234-GANDI'"},
		{"hosting_account_product_add", "could not create a hosting_account_product_add operation because: DataError: "},
		{"vm_create", "creating VM#"},
		{"vm_info", "'hostname' => 'vmtest1'"},
		{"vm_update", "is operation id#"},
		{"disk_create", "creating disk#"},
		{"disk_info", "'name' => 'disk2GB'"},
		{"disk_attach", "created operation#"},
		{"disk_list", "$VAR1 = ["},
		{"disk_detach", "created operation#"},
		{"disk_delete", "created operation#"},
		{"vm_reboot", "created operation#"},
		{"vm_start", "created operation#"},
		{"operation_list", "operations list:\n$VAR1 = [];"}, // the sample's dates are of 2006
		{"operation_details", "'state' => 'DONE'"},
		{"operation_cancel", "because: DataError: "}, // a DONE operation cannot be cancelled
		{"vm_delete", "created operation#"},
	} {
		body := sections[tc.method]
		if !strings.Contains(body, tc.want) {
			t.Errorf("%s: want %q in its output:\n%s", tc.method, tc.want, body)
		}
		if strings.Contains(body, "--- operation") && !strings.Contains(body, " DONE") {
			t.Errorf("%s: its operation did not end DONE:\n%s", tc.method, body)
		}
		if !strings.Contains(tc.want, "DataError") && strings.Contains(body, "could not") {
			t.Errorf("%s: failed:\n%s", tc.method, body)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}
