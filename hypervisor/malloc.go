package hypervisor

/*
#include <malloc.h>
*/
import "C"

// LimitMallocArenas caps the arenas glibc's malloc keeps for C code
// (libvirt's client library, gnutls, libxml2) at n. By default glibc
// gives up to eight per core, one per thread that allocates: libvirt's
// event loop, the connection's threads and every goroutine's thread
// that happens to call into libvirt each hold one, mostly empty (2-4 MB
// of RSS on this agent for nothing). The agent's C allocations are few
// and short (libvirt's client serialises its calls on the connection),
// so one arena costs no measurable contention: the bench's throughput
// is the same with it. Call it once, before opening a driver.
func LimitMallocArenas(n int) {
	C.mallopt(C.M_ARENA_MAX, C.int(n))
}
