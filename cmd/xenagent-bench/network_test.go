package main

import (
	"slices"
	"testing"
)

func TestReceivedRates(t *testing.T) {
	const server = `{"intervals":[{"sum":{"seconds":1,"bits_per_second":5e5}}],
	  "server_output_json":{"intervals":[
	    {"sum":{"seconds":1.0,"bits_per_second":1.2e6}},
	    {"sum":{"seconds":1.0,"bits_per_second":9.5e5}},
	    {"sum":{"seconds":0.999,"bits_per_second":9.6e5}},
	    {"sum":{"seconds":0.08,"bits_per_second":1.9e6}}]}}`
	const text = `{"intervals":[{"sum":{"seconds":1,"bits_per_second":1}},{"sum":{"seconds":1,"bits_per_second":2}}],
	  "server_output_text":"Accepted connection"}`
	tests := []struct {
		name    string
		report  string
		reverse bool
		want    []float64
		wantErr bool
	}{
		{"from the VM: the server's whole seconds after the first", server, false, []float64{9.5e5, 9.6e5}, false},
		{"to the VM: the client's", server, true, nil, true},
		{"a text server report is refused, not replaced by the sender's", text, false, nil, true},
		{"to the VM from a text report", text, true, []float64{2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := receivedRates([]byte(tt.report), tt.reverse)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Fatalf("receivedRates = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
