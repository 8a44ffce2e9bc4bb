package nocloud

import "github.com/xenagent/xenagent/agent/host"

// again adds to a later seed's cloud-config (host.SeedSpec.Again) what a
// guest that already booted once needs for cloud-init to apply new
// credentials when it sees the new instance-id, and nothing else:
//   - ssh_deletekeys false: a new instance otherwise deletes the SSH host
//     keys and makes new ones, and every client would see a changed host
//     key (cloud-init only generates the key types that are missing);
//   - chpasswd with expire false: the users module only creates users, and
//     some cloud-init versions leave an existing user's password alone;
//     chpasswd sets it (a hash: the seed never holds the password), and
//     its default expiry would force a change at the next login;
//   - the users' ssh_authorized_keys, already in users, are added to each
//     existing user's authorized_keys by the users module.
//
// Run is the first boot's alone: a later seed never renders it.
func again(cloudConfig map[string]any, c host.SeedSpec, users []userEntry) {
	cloudConfig["ssh_deletekeys"] = false
	if c.PasswordHash == "" {
		return // lock_passwd in users locks it
	}
	type entry struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		Type     string `json:"type"`
	}
	var list []entry
	for _, u := range users {
		list = append(list, entry{Name: u.Name, Password: c.PasswordHash, Type: "hash"})
	}
	cloudConfig["chpasswd"] = map[string]any{"expire": false, "users": list}
}
