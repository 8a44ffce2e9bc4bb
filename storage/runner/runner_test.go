package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRunSeparatesStreamsAndClassifies(t *testing.T) {
	x := &Exec{Timeout: 5 * time.Second}
	out, err := x.Run(context.Background(), "sh", "-c", "echo out; echo err >&2")
	if err != nil || string(out) != "out\n" {
		t.Fatalf("out %q err %v", out, err)
	}
	_, err = x.Run(context.Background(), "sh", "-c", "echo 'Volume group \"vg\" not found' >&2; exit 5")
	var re *Error
	if !errors.As(err, &re) || re.ExitCode != 5 || !strings.Contains(re.Stderr, "not found") {
		t.Fatalf("err = %#v", err)
	}
	out, _ = x.Run(context.Background(), "sh", "-c", "echo $LC_ALL")
	if string(out) != "C\n" {
		t.Fatalf("LC_ALL = %q", out)
	}
}

func TestTimeout(t *testing.T) {
	x := &Exec{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := x.Run(context.Background(), "sleep", "10")
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 6*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestRetriesOnlyTransient(t *testing.T) {
	dir := t.TempDir()
	script := "n=$(cat " + dir + "/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + dir + "/n; [ $n -ge 3 ] || { echo 'busy' >&2; exit 5; }; echo done"
	x := &Exec{Timeout: 5 * time.Second, Attempts: 4, Transient: func(e *Error) bool { return strings.Contains(e.Stderr, "busy") }}
	out, err := x.Run(context.Background(), "sh", "-c", script)
	if err != nil || string(out) != "done\n" {
		t.Fatalf("out %q err %v", out, err)
	}
	x.Transient = func(*Error) bool { return false }
	if _, err := x.Run(context.Background(), "sh", "-c", "rm -f "+dir+"/n; "+script); err == nil {
		t.Fatal("a permanent failure was retried into success")
	}
}
