package gigas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
)

// IdempotencyHeader carries a client's idempotency key (at most 120
// characters): a retry of the same call (method, path and body) with the
// same key gets the first call's operations and does nothing again, even
// after the object is gone (a retried DELETE). The same key on another
// call is 409 duplicate. A call the face makes of several service calls
// (an edit of several kinds, deleting every snapshot) gives each its own
// key, the header's with "#0", "#1"... appended, the last one's with a
// "$" after its number: a retry is answered from the keys only when the
// last step's is there. One whose first steps were accepted and a later
// one refused is 409, naming the operations accepted: answering those as
// the whole call's (202) would tell a client that retried, not having
// seen the refusal, that all of it was done.
const IdempotencyHeader = "Idempotency-Key"

// maxIdemKey leaves room in the service's 128 characters for the steps'
// suffixes.
const maxIdemKey = 120

// readIdem reads the call's key and fingerprints the call.
func (k *call) readIdem() error {
	key := k.r.Header.Get(IdempotencyHeader)
	if key == "" {
		return nil
	}
	if len(key) > maxIdemKey {
		return invalid(IdempotencyHeader, "must be at most "+strconv.Itoa(maxIdemKey)+" characters")
	}
	sum := sha256.Sum256([]byte(k.r.URL.Path + "\n" + string(k.raw)))
	k.idem, k.method, k.digest = key, "gigas "+k.r.Pattern, hex.EncodeToString(sum[:])
	return nil
}

// plan says how many service calls (steps) the call makes, before the
// first: more than one marks the keys of its steps (IdempotencyHeader).
func (k *call) plan(steps int) { k.steps = steps }

func (k *call) idemKey(step int) string {
	if k.steps <= 1 {
		return k.idem
	}
	key := k.idem + "#" + strconv.Itoa(step)
	if step == k.steps-1 {
		key += "$"
	}
	return key
}

// opts are the service options of the call's step-th service call.
func (k *call) opts(step int) service.CallOptions {
	if k.idem == "" {
		return service.CallOptions{}
	}
	return service.CallOptions{IdempotencyKey: k.idemKey(step), Method: k.method, Digest: k.digest}
}

// replay answers a retried call from its key before anything else: every
// step's operations, and the VM of a creation (without its password,
// which is shown once).
func (s *Server) replay(ctx context.Context, k *call) (int, any, bool) {
	if k.idem == "" || k.r.Method == http.MethodGet {
		return 0, nil, false
	}
	all, complete := s.svc.Replay(k.c, k.method, k.idem, k.digest)
	for step := 0; !complete; step++ {
		// A call of several steps (idemKey): the last one's key ends in "$".
		n := k.idem + "#" + strconv.Itoa(step)
		ops, ok := s.svc.Replay(k.c, k.method, n+"$", k.digest)
		if ok {
			complete = true
		} else if ops, ok = s.svc.Replay(k.c, k.method, n, k.digest); !ok {
			break
		}
		all = append(all, ops...)
	}
	if len(all) == 0 {
		return 0, nil, false
	}
	if !complete {
		return http.StatusConflict, &apiError{Status: http.StatusConflict, Code: CodeConflict,
			Msg: IdempotencyHeader + ": the call first made with this key stopped after " + done(all) +
				" had been accepted (a later step was refused, or the call is still being made); what is left of it was not done under this key: send it with another"}, true
	}
	var extra map[string]any
	if strings.HasSuffix(k.r.Pattern, "/virtual_machine") || strings.HasSuffix(k.r.Pattern, "/clone") {
		for _, o := range all {
			if o.Type == "vm_create" {
				if v, err := s.view(k, o.VMID); err == nil {
					extra = vmResource(v)
				}
			}
		}
	}
	status, out, _ := accepted(k, all, extra)
	return status, out, true
}
