package service

import "testing"

// Call options are checked before anything is looked up; an idempotency
// key needs the face's method and digest, or a retry with other
// arguments would get the first call's operations.
func TestCheckOptions(t *testing.T) {
	s := bareService(t)
	tenant, operator := &Caller{AccountID: 1}, &Caller{Operator: true}
	long := string(make([]byte, 129))
	tests := []struct {
		name   string
		c      *Caller
		opts   CallOptions
		kind   Kind
		saying string
	}{
		{"no options", tenant, CallOptions{}, 0, ""},
		{"a key with its call", tenant, CallOptions{IdempotencyKey: "k", Method: "m", Digest: "d"}, 0, ""},
		{"a key without the call's digest", tenant, CallOptions{IdempotencyKey: "k", Method: "m"}, KindInternal, "idempotency_key"},
		{"a key without the call's method", tenant, CallOptions{IdempotencyKey: "k", Digest: "d"}, KindInternal, "idempotency_key"},
		{"a key too long", tenant, CallOptions{IdempotencyKey: long, Method: "m", Digest: "d"}, KindInvalid, "idempotency_key: must be at most 128"},
		{"a tenant choosing an id", tenant, CallOptions{VMID: 5}, KindNoRight, "operator key only"},
		{"the operator choosing one", operator, CallOptions{VMID: 5}, 0, ""},
		{"a negative id", operator, CallOptions{DiskID: -1}, KindInvalid, "disk_id: must be positive"},
		{"an id beyond 32 bits", operator, CallOptions{IfaceID: MaxID + 1}, KindInvalid, "iface_id: must be at most"},
		{"a tenant acting for another", tenant, CallOptions{AccountID: 2}, KindNoRight, "account_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.checkOptions(tt.c, tt.opts, ObjVM)
			wantRefusal(t, err, tt.kind, tt.saying)
		})
	}
}
