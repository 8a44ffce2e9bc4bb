// Package hosttest holds the one conformance suite per host port that
// every implementation passes: HypervisorSuite, VolumesSuite,
// ExtentsSuite, WiringSuite and SeedsSuite. The fakes of host/hostfake run them in
// their own tests, the adapters in theirs (hypervisor/ over libvirt's
// test driver, storage/file and storage/lvm, network/wire in a network
// namespace, storage/nocloud in a temp dir), so the workflows' tests on
// the fakes prove something about the real host.
//
// Each suite takes a constructor called once per subtest, so subtests
// start from nothing and fail on their own. A suite checks behaviour
// through the port; where the port cannot show something (a definition's
// devices, a volume's data, the filters in place, a seed's content, what
// a crash leaves), the rig the constructor returns gives the suite that
// view. Where an implementation
// cannot do something the port allows not to (libvirt's test driver does
// not report reboots), the suite asks the implementation (here,
// RebootReportsItself) and checks the answer it gives, never skips.
//
// What a suite needs of the machine (root, a tool) is the constructor's
// to require, through agent/testenv, so that `make test` fails instead
// of skipping.
package hosttest
