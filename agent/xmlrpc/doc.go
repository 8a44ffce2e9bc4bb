// Package xmlrpc is the agent's XML-RPC codec, written on encoding/xml
// because no maintained Go server-side codec exists.
//
// Values map to Go as follows, both ways:
//
//	<nil/>               nil
//	<boolean>            bool
//	<int> <i4> <i8>      int64 (decoding); any Go integer encodes as <int>
//	<double>             float64
//	<string> or bare     string
//	<dateTime.iso8601>   time.Time (UTC, second precision)
//	<base64>             []byte
//	<array>              []any
//	<struct>             map[string]any
//
// The decoder is a token-level parser with a nesting limit, so a hostile
// body cannot exhaust the stack; the HTTP layer bounds the body size.
// Struct members are encoded in sorted key order, so responses are
// byte-for-byte reproducible (golden tests rely on this).
package xmlrpc
