package gigas

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/xenagent/xenagent/agent/service"
)

// TestQuotaRaceCreates: eight creations at once for an account granted
// one server, half with its key and half with the operator's acting for
// it, accept exactly one; the others are 403 quota_exceeded. The quota
// is checked in the submit transaction, not before it.
func TestQuotaRaceCreates(t *testing.T) {
	a := newAgent(t, func(c *service.Config) { c.Quotas.Default = service.Resources{Servers: 1} })
	res := make([]reply, 8)
	var wg sync.WaitGroup
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, h := aliceKey, "race"+strconv.Itoa(i)
			if i%2 == 1 {
				key = operatorKey
			}
			raw, _ := json.Marshal(map[string]any{"memory": "256", "cpus": "1", "label": h,
				"primary_disk_size": "1", "hostname": h, "template_id": strconv.FormatInt(a.template, 10)})
			req, _ := http.NewRequest("POST", a.srv.URL+acctPath(a.alice)+"/virtual_machine", bytes.NewReader(raw))
			req.Header.Set("Authorization", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			res[i].status = resp.StatusCode
			res[i].raw, _ = io.ReadAll(resp.Body)
			json.Unmarshal(res[i].raw, &res[i].body)
		}()
	}
	wg.Wait() // a.do's record of answers is not safe for concurrent use
	accepted := 0
	for _, r := range res {
		switch {
		case r.status == 202:
			accepted++
		case r.status != 403 || r.obj()["code"] != "quota_exceeded":
			t.Errorf("a creation past the quota: %d %s", r.status, r.raw)
		}
	}
	if accepted != 1 {
		t.Errorf("%d creations accepted with a quota of 1 server", accepted)
	}
}
