package gandi

import (
	"strings"
	"testing"
)

// TestPHPClient sends a request as PHP's xmlrpc_encode_request writes it:
// encoding="iso-8859-1" declared and, with escaping => "markup", the é in
// the key's comment as the raw byte 0xE9. The key must read "josé".
func TestPHPClient(t *testing.T) {
	srv := newServer(t)
	body := `<?xml version="1.0" encoding="iso-8859-1"?>
<methodCall>
<methodName>hosting.ssh.create</methodName>
<params>
 <param>
  <value>
   <string>` + aliceKey + `</string>
  </value>
 </param>
 <param>
  <value>
   <struct>
    <member>
     <name>name</name>
     <value>
      <string>laptop</string>
     </value>
    </member>
    <member>
     <name>value</name>
     <value>
      <string>ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 jos` + "\xe9" + `@portable</string>
     </value>
    </member>
   </struct>
  </value>
 </param>
</params>
</methodCall>
`
	v, err := post(t, srv.URL, body)
	if err != nil {
		t.Fatalf("a PHP client's call was refused: %v", err)
	}
	const want = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJemSO4cJYnMqTYNq8aP104yPPUl0HGk3+1VQ69OpS5 josé@portable"
	if got := v.(map[string]any)["value"]; got != want {
		t.Fatalf("key = %q, want %q", got, want)
	}

	// A charset nobody decodes is refused, naming it.
	_, err = post(t, srv.URL, strings.Replace(body, "iso-8859-1", "koi8-r", 1))
	if f := faultOf(t, err); f.Code != 518020 || !strings.Contains(f.Message, `unsupported charset "koi8-r"`) {
		t.Fatalf("fault = %d %q", f.Code, f.Message)
	}
}
