// Package hostfake holds in-memory fakes of the host ports (Hypervisor,
// Volumes, Wiring, Seeds) for the tests of the rules that drive them: the
// workflows, reconciliation, the service.
//
// Why fakes, when the real adapters run in tests too (libvirt's test
// driver, the file backend in a temp dir, wiring in a network namespace)?
// Because the real ones cannot be told to misbehave: libvirt's test
// driver's guests always obey a shutdown and reboot within the call, a
// temp dir never refuses a clone halfway, and a namespace needs root. The
// graceful-then-hard paths (a guest that ignores its stop messages), the
// rollbacks (a define that fails after a volume was made) and the
// confirmations (a reboot seen through an event, a new domain id, or not
// at all) are exactly what the workflows exist for, and they run here in
// milliseconds.
//
// The fakes are faithful to the port contracts documented in agent/host:
// host/hosttest runs the same suite against them and against the real
// adapters, so a rule the fakes break is a failing test, not a lie the
// workflow tests believe.
//
// What a test can do beyond the port:
//   - Hypervisor.SetGuest: a guest that ignores shutdown or reboot
//     messages, or obeys them after a delay; RebootStyle: how a reboot
//     shows (an event, a new domain id, or nothing, as the test driver);
//     Halt, Crash and Pause act as the guest or the host would;
//     Disconnect and Reconnect make every call fail as transient;
//     AddForeign defines a domain that is not the agent's; GuestCount is
//     a guest's counter (its memory, as far as a test sees: Save keeps it
//     in the file, Restore brings it back, a start begins at 0), and
//     WithSavedDefinition has Restore run the saved definition, as
//     libvirt's libxl driver does, refusing moved disks.
//   - Volumes.Put and PutPartial place volumes the agent did not make
//     (legacy, another agent's, half-made ones); WriteAt and ReadAt reach
//     their data.
//   - Wiring.Plug and Unplug make and remove backend devices (the fake
//     hypervisor does it at start and stop when given the Wiring as its
//     Links), SetCounters sets what a device counted, Wired reads back
//     what is in place, WatchLinks is a host.LinkWatcher.
//   - Seeds.PutPartial leaves a half-written seed, as a crash in a
//     Write does, and Partial counts them; Read returns the spec of the
//     seed at a path, as the guest given it would read it.
//   - Every fake embeds Faults: Fail makes a method fail (before acting,
//     or after, as a call whose answer was lost), Hook decides per call,
//     Calls and Count tell what was called.
//
// Every fake is safe for concurrent use.
package hostfake
