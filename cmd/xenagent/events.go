package main

import (
	"net/http"

	"github.com/xenagent/xenagent/agent/api/stream"
)

// mountEvents serves the server-sent event stream at /events beside the
// API's handler; the stream's long-lived responses move their own write
// deadlines past server.write_timeout.
func mountEvents(api http.Handler, events *stream.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/events", events)
	mux.Handle("/", api)
	return mux
}
