// Package arch holds tests of the code's shape, and no other code: they
// fail when the module drifts from the layout the project agreed on
// (the style guide's "Architecture" section), so the rules stay true instead of
// eroding one convenient shortcut at a time.
//
// The rules, each a subtest of TestShape in arch_test.go:
//
//   - no package holds more than a quarter of the module's non-test Go lines;
//   - no non-test Go file is longer than 800 lines;
//   - no function or method outside cmd/ and outside _test.go files is
//     longer than 100 lines, from its func line to its closing brace;
//   - nothing under agent/ depends, even transitively, on the adapter
//     libraries (libvirt, libvirtxml, netlink, nftables) or on the
//     module's adapter packages (hypervisor/, storage/, network/): the
//     engine declares ports, the adapters implement them and only cmd/
//     wires them together;
//   - every package has a package comment.
//
// The tests read the source with go/parser and the import graph with one
// `go list -deps -json ./...` from the module root, so they need the go
// command (go test puts it on PATH) and take well under a second.
package arch
