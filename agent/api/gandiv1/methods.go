package gandiv1

import (
	"context"

	"github.com/xenagent/xenagent/agent/service"
)

// table is every method of the v1 document but login (server.go).
func (s *Server) table() map[string]method {
	return map[string]method{
		"account_currency":               s.billing("account_currency", "the prepaid account's currency"),
		"account_balance":                s.billing("account_balance", "the prepaid account's balance"),
		"hosting_account_info":           s.accountInfo,
		"hosting_account_product_add":    s.billing("hosting_account_product_add", "adding products (shares, disk) to the account"),
		"hosting_account_product_renew":  s.billing("hosting_account_product_renew", "renewing products"),
		"hosting_account_product_remove": s.billing("hosting_account_product_remove", "removing products"),
		"hosting_account_product_update": s.billing("hosting_account_product_update", "changing products"),

		"vm_create":    s.vmCreate,
		"vm_info":      s.vmInfo,
		"vm_list":      s.vmList,
		"vm_update":    s.vmUpdate,
		"vm_delete":    s.vmAction("vm_delete"),
		"vm_start":     s.vmAction("vm_start"),
		"vm_stop":      s.vmAction("vm_stop"),
		"vm_reboot":    s.vmAction("vm_reboot"),
		"vm_disk_list": s.vmDiskList,
		"vm_disk_link": s.vmDiskLink,

		"disk_create": s.diskCreate,
		"disk_info":   s.diskInfo,
		"disk_delete": s.diskDelete,
		"disk_attach": s.diskAttach,
		"disk_detach": s.diskDetach,
		"disk_list":   s.diskList,

		"operation_list":    s.opList,
		"operation_details": s.opDetails,
		"operation_cancel":  s.opCancel,

		"os_list": s.osList,
	}
}

// Methods lists the methods the face serves, login included.
func (s *Server) Methods() []string {
	out := []string{"login"}
	for m := range s.methods {
		out = append(out, m)
	}
	return out
}

// billing answers a method of the central tier's billing: a clear fault,
// whatever its arguments.
func (s *Server) billing(name, what string) method {
	return func(context.Context, *service.Caller, args) (any, error) {
		return nil, centralTier(name, what)
	}
}
