package gigas

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The document is checked by a generic OpenAPI 3 implementation
// (kin-openapi) too, not only by openapi_test.go's own reading of it: a
// client generated from it by any tool reads it as kin-openapi does.

func loadKin(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	return doc
}

func TestOpenAPIKinValid(t *testing.T) { loadKin(t) }

// TestOpenAPIKinLifecycle sends the coverage run (every route) through
// openapi3filter: every answer must pass ValidateResponse (status,
// declared headers, body), and every request the server accepted must
// pass ValidateRequest (a request the server takes the document must
// allow; the run's deliberate 4xx are wrong on purpose).
func TestOpenAPIKinLifecycle(t *testing.T) {
	doc := loadKin(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t)
	var mu sync.Mutex
	var problems []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	inner := a.srv.Config.Handler
	orig := a.srv
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())

		check := r.Clone(context.Background())
		check.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := router.FindRoute(check)
		if err != nil {
			if rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusNotFound {
				fail("%s %s: %d but no route in the document: %v", r.Method, r.URL, rec.Code, err)
			}
			return
		}
		in := &openapi3filter.RequestValidationInput{
			Request: check, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		}
		if rec.Code < 300 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				fail("%s %s: answered %d, but the request is outside the document: %v", r.Method, r.URL, rec.Code, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Body:    io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			fail("%s %s: %d %s: %v", r.Method, r.URL, rec.Code, rec.Body.Bytes(), err)
		}
	}))
	t.Cleanup(orig.Close)
	coverageRun(t, a)
	if len(a.seen) < 50 {
		t.Fatalf("only %d calls seen", len(a.seen))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d calls validated", len(a.seen))
}
