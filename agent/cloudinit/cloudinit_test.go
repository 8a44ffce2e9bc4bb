package cloudinit

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/testenv"
)

func TestSHA512Crypt(t *testing.T) {
	// Vectors from the SHA-crypt specification and openssl passwd -6.
	for _, c := range []struct{ pw, salt, want string }{
		{"Hello world!", "saltstring", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"password_to_change", "abc", "$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1."},
	} {
		if got := sha512Crypt(c.pw, c.salt, 5000); got != c.want {
			t.Errorf("sha512Crypt(%q, %q) = %s, want %s", c.pw, c.salt, got, c.want)
		}
	}
	if got := sha512Crypt("Hello world!", "saltstringsaltstring", 10000); got != "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v." {
		t.Errorf("rounds=10000: %s", got)
	}
	h1, _ := HashPassword("secret-pass")
	h2, _ := HashPassword("secret-pass")
	if h1 == h2 || !strings.HasPrefix(h1, "$6$") || strings.Contains(h1, "secret") {
		t.Errorf("hashes %s %s: want distinct salted $6$ hashes", h1, h2)
	}
}

func TestSeedRoundTrip(t *testing.T) {
	hash := sha512Crypt("password_to_change", "abc", 5000)
	c := Config{
		InstanceID: "xa-vm-7-abc", Hostname: "web1", Login: "alice", PasswordHash: hash,
		AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7y alice@laptop"},
		Run:            `echo "it's \"quoted\"" > /root/first-boot`,
		Ifaces: []Iface{{MAC: "aa:00:00:00:00:07", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.7/24")},
			Gateway4: netip.MustParseAddr("10.0.0.1")}},
	}
	path := filepath.Join(t.TempDir(), "seed.iso")
	if err := Write(path, c); err != nil {
		t.Fatal(err)
	}
	files, label, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if label != Label {
		t.Errorf("volume label %q, want %q", label, Label)
	}
	want, _ := c.Files()
	for name, data := range want {
		if string(files[name]) != string(data) {
			t.Errorf("%s read back as %q, want %q", name, files[name], data)
		}
	}
	ud := string(files["user-data"])
	if !strings.HasPrefix(ud, "#cloud-config\n") {
		t.Fatalf("user-data does not start with #cloud-config: %q", ud)
	}
	var cc struct {
		Hostname string `json:"hostname"`
		Users    []struct {
			Name   string   `json:"name"`
			Hashed string   `json:"hashed_passwd"`
			Keys   []string `json:"ssh_authorized_keys"`
			Lock   bool     `json:"lock_passwd"`
		} `json:"users"`
		RunCmd [][]string `json:"runcmd"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(ud, "#cloud-config\n")), &cc); err != nil {
		t.Fatalf("user-data: %v", err)
	}
	if cc.Hostname != "web1" || len(cc.Users) != 2 || cc.Users[1].Name != "alice" || cc.Users[1].Hashed != hash || cc.Users[1].Lock ||
		len(cc.Users[0].Keys) != 1 || len(cc.RunCmd) != 1 || cc.RunCmd[0][2] != "cd / && "+c.Run {
		t.Errorf("cloud-config = %+v", cc)
	}
	if strings.Contains(ud, "password_to_change") {
		t.Errorf("the password itself is in user-data")
	}
	if !strings.Contains(string(files["meta-data"]), `"instance-id": "xa-vm-7-abc"`) {
		t.Errorf("meta-data = %s", files["meta-data"])
	}
	if !strings.Contains(string(files["network-config"]), `"10.0.0.7/24"`) {
		t.Errorf("network-config = %s", files["network-config"])
	}

	// An independent reader (genisoimage's isoinfo) sees the same label
	// and the Rock Ridge names cloud-init looks for.
	testenv.Tool(t, "isoinfo", "genisoimage")
	out, err := exec.Command("isoinfo", "-d", "-i", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Volume id: cidata") || !strings.Contains(string(out), "Rock Ridge signatures version") {
		t.Errorf("isoinfo -d: %v\n%s", err, out)
	}
	out, err = exec.Command("isoinfo", "-R", "-i", path, "-x", "/user-data").Output()
	if err != nil || string(out) != ud {
		t.Errorf("isoinfo -R -x /user-data: %v\n%q", err, out)
	}
}
