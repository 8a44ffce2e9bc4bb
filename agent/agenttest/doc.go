// Package agenttest builds a whole agent for tests on real parts: a bbolt
// state file, the ops engine, a private libvirt test driver
// (test://<dir>/node.xml), the file volume backend, the ipam pools, the
// workflows, the reconciler and the service, with accounts and one image
// registered. The faces' tests (agent/api/gandi, gandiv1, gigas,
// gigasclient, cmd/xenagent, cmd/xenagentctl) drive it through their own
// protocol; what a face adds (its HTTP server, its client helpers) stays
// in its own harness.
//
// It wires adapters (hypervisor, storage/file) into the engine, which
// agent/arch forbids any other package under agent/ to do: like cmd/ for
// the binaries, it is a composition root, for tests; agent/arch checks
// that no binary under cmd/ links it.
//
// Every rig closes itself on t.Cleanup: the engine stops, the state file
// passes bbolt's consistency check, the store and the driver close.
package agenttest
