# Runs the v1 document's own Python samples (Python 2 and xmlrpclib as
# written, or their Python 3 form with xmlrpc.client) against the agent,
# in the order of the document's user case, and between them waits for
# the operations they started, as a client would. It runs under both.
# Usage: python2|python3 run_samples.py SAMPLES.json
# SAMPLES.json maps each method to its sample, re-indented (the document
# lost its indentation) and with the URL and sample ids substituted by
# seed_test.go; this driver only orders them and waits.
import json
import sys
import time

try:
    import xmlrpclib
except ImportError:
    import xmlrpc.client as xmlrpclib

samples = json.load(open(sys.argv[1]))
G = {}


def run(name, **ids):
    code = samples[name]
    for var, val in ids.items():
        code = code.replace("@%s@" % var, str(val))
    print("=== %s" % name)
    sys.stdout.flush()
    try:
        exec(code, G)
    except xmlrpclib.Fault as e:
        print("FAULT %d %s" % (e.faultCode, e.faultString))
    sys.stdout.flush()


def wait(opid):
    proxy, session = G["proxy"], G["session"]
    for _ in range(6000):
        st = proxy.operation_details(session, opid)["state"]
        if st in ("DONE", "ERROR", "CANCEL"):
            print("--- operation %d %s" % (opid, st))
            return
        time.sleep(0.01)
    print("--- operation %d never ended" % opid)


def last(typ):
    return G["proxy"].operation_list(G["session"], {"type": typ})[0]


run("login")
run("account_currency")
run("account_balance")
run("hosting_account_info")
run("hosting_account_product_add")
run("hosting_account_product_renew")
run("hosting_account_product_remove")
run("hosting_account_product_update")
run("os_list")
image = G["oslst"][0]["id"]
run("vm_create", os_id=image)
vm = G["vm_id"]
wait(last("vm_create"))
run("vm_info", vm_id=vm)
run("vm_list")
run("vm_update", vm_id=vm)
wait(G["opid"])
run("disk_create")
disk = G["disk_id"]
wait(last("disk_create"))
run("disk_info", disk_id=disk)
run("disk_attach", disk_id=disk, vm_id=vm)
wait(G["opid"])
run("disk_list")
run("disk_detach", disk_id=disk, vm_id=vm)
wait(G["opid"])
run("disk_delete", disk_id=disk)
wait(G["opid"])
for m in ("vm_reboot", "vm_stop", "vm_start", "vm_stop"):
    run(m, vm_id=vm)
    wait(G["opid"])
run("operation_list")
done = last("vm_stop")
run("operation_details", opid=done)
run("operation_cancel", opid=done)
run("vm_delete", vm_id=vm)
wait(G["opid"])
print("=== end")
