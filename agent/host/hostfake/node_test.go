package hostfake_test

import (
	"testing"

	"github.com/xenagent/xenagent/agent/host/hostfake"
	"github.com/xenagent/xenagent/agent/host/hosttest"
)

func TestNodeAndCapacityConformance(t *testing.T) {
	t.Run("node", func(t *testing.T) { hosttest.NodeSuite(t, hostfake.NewHypervisor()) })
	t.Run("capacity", func(t *testing.T) { hosttest.CapacitySuite(t, hostfake.NewVolumes(), true) })
}
