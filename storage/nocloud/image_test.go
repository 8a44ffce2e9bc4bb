package nocloud

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
	"github.com/xenagent/xenagent/agent/testenv"
)

func TestSeedRoundTrip(t *testing.T) {
	// openssl passwd -6 -salt abc password_to_change
	hash := "$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1."
	c := host.SeedSpec{
		InstanceID: "xa-vm-7-abc", Hostname: "web1", Login: "alice", PasswordHash: hash,
		AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7y alice@laptop"},
		Run:            `echo "it's \"quoted\"" > /root/first-boot`,
		Ifaces: []host.SeedIface{{MAC: "aa:00:00:00:00:07", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.7/24")},
			Gateway4: netip.MustParseAddr("10.0.0.1")}},
	}
	path := filepath.Join(t.TempDir(), "seed.iso")
	if err := WriteImage(path, c); err != nil {
		t.Fatal(err)
	}
	files, label, err := ReadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	if label != Label {
		t.Errorf("volume label %q, want %q", label, Label)
	}
	want, _ := Files(c)
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
