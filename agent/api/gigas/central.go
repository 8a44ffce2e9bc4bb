package gigas

import (
	"context"
	"net/http"
)

// central answers an endpoint of the document that belongs to a central
// tier (or has no meaning on one host) with 501, naming why. The key is
// checked first, so the answer tells nothing to a caller without one.
func central(why string) handler {
	return func(ctx context.Context, k *call) (int, any, error) {
		return 0, nil, notImplemented(k.r.Method+" "+k.r.URL.Path, why)
	}
}

// serveOpenAPI serves the face's OpenAPI 3 document; no key is needed
// to read it.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}
