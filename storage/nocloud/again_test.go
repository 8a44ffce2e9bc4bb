package nocloud

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xenagent/xenagent/agent/host"
)

// A later seed keeps the host keys, sets the password through chpasswd
// without expiring it, keeps the keys in users, and runs nothing; a first
// seed has none of that but its run command.
func TestAgainSeed(t *testing.T) {
	hash := "$6$abc$ytzHHKmN/RzrR1kwstQ87XMZQX9EjV4YuC.Syw1WU1aA6a9eEXr.n7.G3L/LLJmNu.OWd1amMvwlpwfSEB7o1."
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7y alice@laptop"
	base := host.SeedSpec{InstanceID: "u-g1", Hostname: "web1", Login: "alice", PasswordHash: hash,
		AuthorizedKeys: []string{key}, Run: "touch /root/first"}
	type chpasswd struct {
		Expire *bool `json:"expire"`
		Users  []struct {
			Name, Password, Type string
		} `json:"users"`
	}
	type config struct {
		DeleteKeys *bool      `json:"ssh_deletekeys"`
		Chpasswd   *chpasswd  `json:"chpasswd"`
		RunCmd     [][]string `json:"runcmd"`
		Users      []struct {
			Name string   `json:"name"`
			Keys []string `json:"ssh_authorized_keys"`
			Lock bool     `json:"lock_passwd"`
		} `json:"users"`
	}
	for _, tc := range []struct {
		name  string
		edit  func(*host.SeedSpec)
		check func(t *testing.T, c config)
	}{
		{"first", func(*host.SeedSpec) {}, func(t *testing.T, c config) {
			if c.DeleteKeys != nil || c.Chpasswd != nil || len(c.RunCmd) != 1 {
				t.Errorf("first seed: %+v", c)
			}
		}},
		{"again", func(s *host.SeedSpec) { s.Again = true }, func(t *testing.T, c config) {
			if c.DeleteKeys == nil || *c.DeleteKeys || len(c.RunCmd) != 0 {
				t.Errorf("later seed must keep host keys and run nothing: %+v", c)
			}
			if c.Chpasswd == nil || c.Chpasswd.Expire == nil || *c.Chpasswd.Expire || len(c.Chpasswd.Users) != 2 {
				t.Fatalf("chpasswd = %+v", c.Chpasswd)
			}
			for i, u := range c.Chpasswd.Users {
				if u.Name != []string{"root", "alice"}[i] || u.Password != hash || u.Type != "hash" {
					t.Errorf("chpasswd user %d = %+v", i, u)
				}
			}
			for _, u := range c.Users {
				if len(u.Keys) != 1 || u.Keys[0] != key || u.Lock {
					t.Errorf("user %+v", u)
				}
			}
		}},
		{"again without password", func(s *host.SeedSpec) { s.Again, s.PasswordHash = true, "" }, func(t *testing.T, c config) {
			if c.DeleteKeys == nil || *c.DeleteKeys || c.Chpasswd != nil {
				t.Errorf("later seed without password: %+v", c)
			}
			for _, u := range c.Users {
				if !u.Lock {
					t.Errorf("user %s not locked without a password", u.Name)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.edit(&s)
			files, err := Files(s)
			if err != nil {
				t.Fatal(err)
			}
			var c config
			if err := json.Unmarshal([]byte(strings.TrimPrefix(string(files["user-data"]), "#cloud-config\n")), &c); err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
