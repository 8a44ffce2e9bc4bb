package gigas

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/xenagent/xenagent/agent/service"
)

// Error codes of the face's JSON errors, {"code": ..., "message":
// "field: rule"}. The code is stable (programs switch on it), the message
// names the field and the rule (people read it).
const (
	CodeMissing        = "missing_parameter"   // 400
	CodeInvalid        = "invalid_parameter"   // 400
	CodeUnauthorized   = "unauthorized"        // 401: no key, or an unknown one
	CodeForbidden      = "forbidden"           // 403: a key acting outside its account, or an operator-only call
	CodeNotFound       = "not_found"           // 404
	CodeMethod         = "method_not_allowed"  // 405
	CodeDuplicate      = "duplicate"           // 409
	CodeBusy           = "busy"                // 409: another operation holds the object; retry
	CodeConflict       = "conflict"            // 409: the object's state forbids the call
	CodeTooLarge       = "request_too_large"   // 413
	CodePrecondition   = "precondition_failed" // 412: the document's own refusal (a second interface on a public network)
	CodeQuota          = "quota_exceeded"      // 403: the account has not enough resources
	CodeRateLimited    = "rate_limited"        // 429
	CodeNotImplemented = "not_implemented"     // 501: a central tier's endpoint, or not served by this agent
	CodeUnavailable    = "unavailable"         // 503: the agent cannot record anything now; retry later
	CodeTimeout        = "timeout"             // 504
	CodeInternal       = "internal_error"      // 500
)

// apiError is a refusal as the wire shows it.
type apiError struct {
	Status int    `json:"-"`
	Code   string `json:"code"`
	Msg    string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Msg }

var kindStatus = map[service.Kind]struct {
	status int
	code   string
}{
	service.KindMissing:     {http.StatusBadRequest, CodeMissing},
	service.KindInvalid:     {http.StatusBadRequest, CodeInvalid},
	service.KindNoRight:     {http.StatusForbidden, CodeForbidden},
	service.KindNotFound:    {http.StatusNotFound, CodeNotFound},
	service.KindDuplicate:   {http.StatusConflict, CodeDuplicate},
	service.KindBusy:        {http.StatusConflict, CodeBusy},
	service.KindConflict:    {http.StatusConflict, CodeConflict},
	service.KindQuota:       {http.StatusForbidden, CodeQuota},
	service.KindRateLimit:   {http.StatusTooManyRequests, CodeRateLimited},
	service.KindTimeout:     {http.StatusGatewayTimeout, CodeTimeout},
	service.KindUnavailable: {http.StatusServiceUnavailable, CodeUnavailable},
	service.KindInternal:    {http.StatusInternalServerError, CodeInternal},
}

// asError maps any error to the wire's, once, at the edge: the face's
// own as they are, the service's by their kind (an unknown key is 401,
// whatever else was asked). rename maps the service's field names to
// this document's ("cores" is "cpus" here) at the start of the message.
func asError(err error, rename map[string]string) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, service.ErrBadKey) {
		return &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Msg: "Authorization: invalid API key"}
	}
	se := service.Classify(err)
	m := kindStatus[se.Kind]
	return &apiError{Status: m.status, Code: m.code, Msg: inGB(renameField(se.Msg, rename))}
}

// gbFields are this document's fields in GB; the service speaks MB.
var gbFields = map[string]bool{"primary_disk_size": true, "swap_disk_size": true, "secondary_disk_size": true}

var (
	mbRange = regexp.MustCompile(`between ([0-9]+) and ([0-9]+) MB`)
	mbOf    = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?) of ([0-9]+(?:\.[0-9]+)?) MB`)
	mbOne   = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?) MB`)
)

// inGB rewrites the MB amounts of a message about a GB field in GB, so
// that a client reads the unit it sent ("primary_disk_size: 4 GB more
// would exceed the account's disk quota (1 of 2.93 GB used)").
func inGB(msg string) string {
	field, _, ok := strings.Cut(msg, ":")
	if !ok || !gbFields[field] {
		return msg
	}
	gbOf := func(mb string) string {
		n, _ := strconv.ParseFloat(mb, 64)
		return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(n/1024, 'f', 2, 64), "0"), ".")
	}
	msg = mbRange.ReplaceAllStringFunc(msg, func(m string) string {
		p := mbRange.FindStringSubmatch(m)
		return "between 1 and " + gbOf(p[2]) + " GB" // sizes are whole GB: 1 is the least
	})
	msg = mbOf.ReplaceAllStringFunc(msg, func(m string) string {
		p := mbOf.FindStringSubmatch(m)
		return gbOf(p[1]) + " of " + gbOf(p[2]) + " GB"
	})
	return mbOne.ReplaceAllStringFunc(msg, func(m string) string { return gbOf(mbOne.FindStringSubmatch(m)[1]) + " GB" })
}

// renameField replaces the field a message starts with ("cores: ...");
// a message naming no field ("vm 3 does not exist") gets rename[""], the
// call's own (the path's id), so every message starts with a field.
func renameField(msg string, rename map[string]string) string {
	field, rest, ok := strings.Cut(msg, ":")
	if !ok || strings.Contains(field, " ") {
		if f, ok := rename[""]; ok {
			return f + ": " + msg
		}
		return msg
	}
	if to, ok := rename[field]; ok {
		return to + ":" + rest
	}
	return msg
}

func missing(field string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeMissing, Msg: field + ": missing parameter"}
}

func invalid(field, rule string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalid, Msg: field + ": " + rule}
}

func notImplemented(what, why string) *apiError {
	return &apiError{Status: http.StatusNotImplemented, Code: CodeNotImplemented, Msg: what + ": " + why}
}

func forbidden(field, rule string) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: CodeForbidden, Msg: field + ": " + rule}
}

func notFound(field, what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Msg: field + ": " + what}
}
