package hypervisor

import "encoding/xml"

func xmlUnmarshal(s string, v any) error { return xml.Unmarshal([]byte(s), v) }
