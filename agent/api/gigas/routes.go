package gigas

// table is every endpoint the face serves. The OpenAPI test walks it
// against the document (openapi.json), both ways.
func (s *Server) table() []route {
	const vm = "/account/{account_id}/virtual_machine/{virtual_machine_id}"
	return []route{
		{method: "POST", path: "/account/{account_id}/virtual_machine", h: s.createVM},
		{method: "GET", path: "/account/{account_id}/virtual_machines", h: s.listVMs},
		{method: "GET", path: vm, h: s.getVM},
		{method: "PUT", path: vm, h: s.putVM},
		{method: "DELETE", path: vm, h: s.deleteVM},
		{method: "POST", path: vm + "/reboot", h: s.rebootVM},
		{method: "POST", path: vm + "/reset_password", h: s.resetPassword},
		{method: "GET", path: vm + "/disks", h: s.listDisks},
		{method: "GET", path: vm + "/network_interfaces", h: s.listIfaces},
		{method: "POST", path: vm + "/network_interface", h: s.addIface},
		{method: "GET", path: vm + "/ip_addresses", h: s.listIPs},
		{method: "GET", path: vm + "/firewall_rules", h: s.listFirewallRules},
		{method: "POST", path: vm + "/apply_firewall_rules", h: s.applyFirewallRules},
		{method: "GET", path: vm + "/isos", h: s.listISOs},
		{method: "POST", path: vm + "/iso", h: s.mountISO},
		{method: "DELETE", path: vm + "/iso/{iso_join_id}", h: s.unmountISO},
		{method: "GET", path: vm + "/remote_console", h: s.remoteConsole},
		{method: "POST", path: vm + "/rebuild_network", h: s.rebuildNetwork}, // no-ops here (noop.go)
		{method: "POST", path: vm + "/apply_disks", h: s.applyDisks},
		{method: "POST", path: vm + "/clone", h: s.cloneVM},
		{method: "GET", path: vm + "/snapshots", h: s.listSnapshots},
		{method: "DELETE", path: vm + "/snapshots", h: s.deleteSnapshots},
		{method: "GET", path: vm + "/cpu_stats", h: s.cpuStats},
		{method: "GET", path: vm + "/bw_stats", h: s.bwStats},
		{method: "GET", path: vm + "/locks", h: s.listLocks},
		{method: "POST", path: vm + "/lock", h: s.lockVM},
		{method: "DELETE", path: vm + "/lock", h: s.unlockVM},
		{method: "GET", path: "/account/{account_id}/operation/{operation_id}", h: s.getOperation},

		// A central tier's, or not served on one host: 501 naming why.
		{method: "GET", path: vm + "/segregations", h: central("segregation keeps VMs on different hypervisors; one host has one")},
		{method: "PUT", path: "/account/{account_id}/virtual_machine/{origin_id}/segregation/{target_id}", h: central("segregation keeps VMs on different hypervisors; one host has one")},
		{method: "DELETE", path: "/account/{account_id}/virtual_machine/{origin_id}/segregation/{target_id}", h: central("segregation keeps VMs on different hypervisors; one host has one")},
		{method: "POST", path: vm + "/template", h: central("templates are a catalogue across hosts, kept by the central tier")},

		{method: "GET", path: OpenAPIPath, raw: serveOpenAPI, noAccount: true},
	}
}
