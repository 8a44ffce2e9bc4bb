#!/usr/bin/env python3
"""The Gandi hosting API overview's create_from walk-through, unchanged
but for the URL: version.info, datacenter.list, image.list,
vm.create_from (disk_create + iface_create + vm_create), polling
operation.info until DONE, then vm.info shows the VM running.

usage: gandi_example.py URL KEY
"""
import sys
import time
import xmlrpc.client

url, apikey = sys.argv[1], sys.argv[2]
api = xmlrpc.client.ServerProxy(url)

version = api.version.info(apikey)
print("version", version)
datacenters = api.hosting.datacenter.list(apikey)
dc_id = datacenters[0]['id']
images = api.hosting.image.list(apikey, {'datacenter_id': dc_id})
assert images, "no image to create from"
src_disk_id = images[0]['disk_id']
# The account may hold VMs already (the README's snippet, an earlier run):
# what this script checks is its own VM, and the count it leaves behind.
vms_before = api.hosting.vm.count(apikey)

disk_spec = {'datacenter_id': dc_id, 'name': 'sysdisk1'}
vm_spec = {'datacenter_id': dc_id, 'hostname': 'example1', 'memory': 512, 'cores': 1,
           'ip_version': 4, 'bandwidth': 102400.0, 'password': 'password_to_change'}
op = api.hosting.vm.create_from(apikey, vm_spec, disk_spec, src_disk_id)
assert [o['type'] for o in op] == ['disk_create', 'iface_create', 'vm_create'], op
start = time.time()
for o in op:
    while True:
        info = api.operation.info(apikey, o['id'])
        if info['step'] in ('DONE', 'ERROR', 'CANCEL'):
            break
        time.sleep(0.2)
    assert info['step'] == 'DONE', info
op2 = api.operation.info(apikey, op[2]['id'])
vm_id = op2['params']['vm_id']
vm = api.hosting.vm.info(apikey, vm_id)
print("vm", vm_id, vm['hostname'], vm['state'], "in %.2fs" % (time.time() - start))
assert vm['state'] == 'running', vm
assert vm['disks'][0]['name'] == 'sysdisk1' and vm['ifaces'][0]['ips'][0]['ip'], vm

try:
    api.hosting.vm.create_from(apikey, dict(vm_spec, memory=500), disk_spec, src_disk_id)
    raise SystemExit("memory 500 was accepted")
except xmlrpc.client.Fault as f:
    assert 'memory' in f.faultString and 'multiple of 64' in f.faultString, f
    print("fault", f.faultCode, f.faultString)
try:
    api.hosting.vm.info('not-a-key-at-all-000000', vm_id)
    raise SystemExit("a bad key was accepted")
except xmlrpc.client.Fault as f:
    print("fault", f.faultCode, f.faultString)

op = api.hosting.vm.delete(apikey, vm_id)
while api.operation.info(apikey, op['id'])['step'] not in ('DONE', 'ERROR', 'CANCEL'):
    time.sleep(0.2)
assert api.operation.info(apikey, op['id'])['step'] == 'DONE'
vms_after = api.hosting.vm.count(apikey)
assert vms_after == vms_before, "vm.count: %d before, %d after the delete" % (vms_before, vms_after)
print("ok")
