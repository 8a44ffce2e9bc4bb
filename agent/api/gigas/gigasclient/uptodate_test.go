package gigasclient

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestUpToDate fails when openapi.json changed and the client was not
// generated again: the document embedded at generation must be the one
// beside it.
func TestUpToDate(t *testing.T) {
	embedded, err := GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	current, err := openapi3.NewLoader().LoadFromFile("../openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(embedded)
	b, _ := json.Marshal(current)
	if !bytes.Equal(a, b) {
		t.Fatal("client.gen.go was generated from another openapi.json: run go generate in agent/api/gigas/gigasclient")
	}
}
