package gigas

import _ "embed"

//go:generate sh -c "python3 openapi_gen.py > openapi.json"

// openAPIDoc is the face's OpenAPI 3 document, served at OpenAPIPath and
// checked against the server by openapi_test.go; openapi_gen.py writes
// it.
//
//go:embed openapi.json
var openAPIDoc []byte
