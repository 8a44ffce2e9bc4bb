package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A kill -9 of either agent in the middle of a disk's stream (the source
// throttled by [migration] rate_mbps, so the precopy of 32 MiB lasts
// seconds, past the target's read_timeout), then a restart and the central tier's retry: the stream goes
// on from what the target journalled, and the VM ends on the target only,
// its data disk's bytes whole.
func TestCrashDuringDiskStream(t *testing.T) {
	for _, killed := range []string{"source", "target"} {
		t.Run(killed, func(t *testing.T) {
			a, b := newMoveLab(t), newMoveLab(t)
			appendConf(t, a, "[migration]\nrate_mbps = 64\n") // 8 MB/s
			// A stream outlasts the listener's bound on a request (it
			// keeps its own deadline per frame).
			appendConf(t, b, "[server]\nread_header_timeout = \"1s\"\nread_timeout = \"1s\"\n")
			a.start("")
			b.start("")
			vmID, data, sum, ticket := moveFixtureWith(t, a, b, 64, func(data int64) {
				buf := make([]byte, 32<<20)
				rand.Read(buf)
				f, err := os.OpenFile(filepath.Join(a.dir, "disks", fmt.Sprintf("xa-disk-%d.img", data)), os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt(buf, 0); err != nil {
					t.Fatal(err)
				}
			})
			migrate := func() (any, error) {
				key := a.key
				a.key = operatorKey
				defer func() { a.key = key }()
				return a.call("hosting.vm.migrate", vmID, map[string]any{"target": fmt.Sprintf("http://127.0.0.1:%d", b.port), "ticket": ticket},
					map[string]any{"idempotency_key": "move"})
			}
			v, err := migrate()
			if err != nil {
				t.Fatal(err)
			}
			id := v.(map[string]any)["id"]
			// Kill once a quarter of the data is across.
			deadline := time.Now().Add(time.Minute)
			for {
				info := a.must("operation.info", id).(map[string]any)
				if tr, _ := info["transfer"].(map[string]any); tr != nil && tr["bytes"].(int64) >= 8<<20 {
					break
				}
				if s := info["step"]; s != "RUN" && s != "WAIT" || time.Now().After(deadline) {
					t.Fatalf("vm_migrate %v (%v) before the stream was under way", s, info["last_error"])
				}
				time.Sleep(20 * time.Millisecond)
			}
			l := map[string]*lab{"source": a, "target": b}[killed]
			l.agent.cmd.Process.Kill()
			<-l.agent.exited
			l.agent = nil
			l.start("")
			// What the target journalled is where the stream resumes: a
			// source killed mid-stream finds the chunks before the cut
			// kept (the target saved them when the connection died).
			have := resumePoint(t, b, ticket, data)
			t.Logf("killed the %s; the target holds %d bytes of the data disk's precopy", killed, have)
			if killed == "source" && have == 0 {
				t.Fatal("the target kept nothing of the stream the source's death cut")
			}
			if _, err := migrate(); err != nil {
				t.Fatalf("retried move: %v", err)
			}
			end := a.waitOpLong(id, 3*time.Minute)
			if end["step"] != "DONE" {
				t.Fatalf("vm_migrate ended %v: %v", end["step"], end["last_error"])
			}
			for _, l := range []*lab{a, b} {
				l.settleLong(time.Minute)
				l.checkVolumes()
			}
			if _, err := a.call("hosting.vm.info", vmID); err == nil {
				t.Fatal("the source still knows the vm")
			}
			if st := b.vmState(vmID); st != "running" && st != "halted" {
				t.Fatalf("target: the vm is %v", st)
			}
			if got := b.volumeSum(data); got != sum {
				t.Fatalf("target: the data disk's content %s, want %s", got, sum)
			}
		})
	}
}

// resumePoint is what the target says it holds of disk's pass
// (GET /migration/v1/state).
func resumePoint(t *testing.T, l *lab, ticket string, disk int64) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/migration/v1/state", l.port), nil)
	req.Header.Set("Authorization", "Ticket "+ticket)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Disks map[string]struct {
			Have int64 `json:"have"`
		} `json:"disks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Disks[strconv.FormatInt(disk, 10)].Have
}

// appendConf adds TOML tables at the end of l's configuration.
func appendConf(t *testing.T, l *lab, tables string) {
	t.Helper()
	f, err := os.OpenFile(l.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(tables); err != nil {
		t.Fatal(err)
	}
}
