package gigas

import _ "embed"

// openAPIDoc is the face's OpenAPI 3 document, served at OpenAPIPath and
// checked against the server by openapi_test.go.
//
//go:embed openapi.json
var openAPIDoc []byte
