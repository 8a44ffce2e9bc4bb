package gandi

import (
	"time"

	"github.com/xenagent/xenagent/agent/service"
)

// renderVMInfoDisk is a disk as vm.info shows it: disk.list's DiskReturn
// with kernel_cmdline, as the recorded responses of the real API have it
// (the seed lists kernel_cmdline for disk.info only; the recording wins
// on field names).
func renderVMInfoDisk(d service.VMDisk) any {
	out := renderVMDisk(d)
	out["kernel_cmdline"] = kernelCmdline(d.Cmdline)
	return out
}

// diskDates reads disk.list's date_created (DiskListOptions: "array of
// string or string"): each value a date ("2026-12-03", that whole UTC
// day) or an instant (a dateTime.iso8601 or a string in one of its forms,
// that second); a disk matches one of them. Ranges are written as
// operation.list takes them: "date_created >=", ">", "<=", "<".
func diskDates(sp *spec, f *service.DiskFilter) error {
	if sp.has("date_created") {
		raw := sp.raw("date_created")
		vals, ok := raw.([]any)
		if !ok {
			vals = []any{raw}
		}
		if len(vals) == 0 {
			return service.Invalid(service.ObjDisk, "date_created", "must name at least one date (an empty array matches no disk)")
		}
		for _, v := range vals {
			span, err := dateSpan(v)
			if err != nil {
				return err
			}
			f.Created = append(f.Created, span)
		}
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		t, ok, err := sp.time("date_created " + op)
		if err != nil {
			return err
		}
		if ok {
			f.CreatedBounds = append(f.CreatedBounds, service.DateBound{Field: "date_created", Op: op, At: t})
		}
	}
	return nil
}

// dateSpan reads one date_created value.
func dateSpan(v any) (service.DateSpan, error) {
	const field = "date_created"
	switch x := v.(type) {
	case time.Time:
		t := x.UTC().Truncate(time.Second)
		return service.DateSpan{From: t, To: t.Add(time.Second)}, nil
	case string:
		if day, err := time.Parse("2006-01-02", x); err == nil {
			return service.DateSpan{From: day, To: day.AddDate(0, 0, 1)}, nil
		}
		for _, layout := range []string{"20060102T15:04:05", time.RFC3339, "2006-01-02T15:04:05"} {
			if t, err := time.Parse(layout, x); err == nil {
				t = t.UTC().Truncate(time.Second)
				return service.DateSpan{From: t, To: t.Add(time.Second)}, nil
			}
		}
		return service.DateSpan{}, service.Invalid(service.ObjDisk, field, "must be a date (2006-01-02) or a dateTime.iso8601 (20060102T15:04:05), got a string in neither form")
	}
	return service.DateSpan{}, wrongType(service.ObjDisk, field, "a date, a dateTime.iso8601 or an array of them", v)
}
