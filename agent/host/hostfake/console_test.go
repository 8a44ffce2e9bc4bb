package hostfake_test

import (
	"testing"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/host/hosttest"
)

func TestConsoleConformance(t *testing.T) {
	hosttest.ConsoleSuite(t, func(t *testing.T) hosttest.ConsoleRig {
		h := hostfake.NewHypervisor()
		return hosttest.ConsoleRig{Hypervisor: h, Console: h, Spec: hosttest.DomainSpec, Type: "ping\r", Want: "ping"}
	})
}
