// Command buildguests writes the coop and stubborn test guests from a
// given kernel, module tree and busybox: the lab uses it for Xen PV guests
// built from the dom0 image's own kernel.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/xenagent/xenagent/hypervisor/guesttest"
)

func main() {
	var o guesttest.Options
	flag.StringVar(&o.Kernel, "kernel", "", "vmlinuz")
	flag.StringVar(&o.Modules, "modules", "", "/lib/modules/RELEASE of that kernel")
	flag.StringVar(&o.Busybox, "busybox", "", "static busybox binary")
	xen := flag.String("xen", "", "write Xen PV guests to this directory")
	qemu := flag.String("qemu", "", "write QEMU guests to this directory")
	flag.Parse()
	dir := *qemu
	if *xen != "" {
		o.Xen, dir = true, *xen
	}
	if dir == "" || o.Kernel == "" || o.Modules == "" || o.Busybox == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := guesttest.BuildWith(dir, o); err != nil {
		fmt.Fprintln(os.Stderr, "buildguests:", err)
		os.Exit(1)
	}
}
