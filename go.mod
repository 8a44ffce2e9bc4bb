module github.com/xenagent/xenagent

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.45.0
	libvirt.org/go/libvirt v1.10009.0
	libvirt.org/go/libvirtxml v1.10009.0
)

require (
	github.com/coreos/go-systemd/v22 v22.7.0 // indirect
	github.com/digitalocean/go-libvirt v0.0.0-20220804181439-8648fbde413e // indirect
	github.com/digitalocean/go-qemu v0.0.0-20250212194115-ee9b0668d242 // indirect
)
