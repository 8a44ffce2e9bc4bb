// Package browsertest drives headless Chromium from Go tests, for pages
// that must be seen working in a real browser (the console). It starts
// Debian's chromedriver (package chromium-driver) and speaks the W3C
// WebDriver protocol to it over plain HTTP and JSON: no Selenium, no Node.
//
// Start skips the test, saying why, when chromium or chromedriver is
// missing, unless XENAGENT_REQUIRE_BROWSER=1 (make test sets it, and
// installs both), where it fails instead.
package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Browser is one WebDriver session in a headless Chromium.
type Browser struct {
	base    string // http://127.0.0.1:port/session/<id>
	client  *http.Client
	driver  *exec.Cmd
	logPath string
}

// Keys the WebDriver spec maps to special keys (for SendKeys).
const (
	Enter     = "\uE007"
	Backspace = "\uE003"
)

// Start launches chromedriver and a headless Chromium session with a
// window of width x height, both ended when the test ends.
func Start(t testing.TB, width, height int) *Browser {
	t.Helper()
	chromium := lookPath("chromium", "chromium-browser", "google-chrome")
	driver := lookPath("chromedriver")
	switch {
	case chromium == "":
		missing(t, "needs chromium (Debian package chromium; make test-deps installs it)")
	case driver == "":
		missing(t, "needs chromedriver (Debian package chromium-driver; make test-deps installs it)")
	}

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--log-path="+logPath)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", driver, err)
	}
	b := &Browser{client: &http.Client{Timeout: 60 * time.Second}, driver: cmd, logPath: logPath}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	root := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := b.waitReady(root, 20*time.Second); err != nil {
		t.Fatalf("%v (log %s)", err, logPath)
	}

	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		fmt.Sprintf("--window-size=%d,%d", width, height), "--force-device-scale-factor=1"}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":        "chrome",
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": args},
		"goog:loggingPrefs":  map[string]any{"browser": "ALL"},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(http.MethodPost, root+"/session", caps, &sess); err != nil {
		t.Fatalf("new WebDriver session: %v (chromedriver log %s)", err, logPath)
	}
	b.base = root + "/session/" + sess.SessionID
	t.Cleanup(func() { b.call(http.MethodDelete, b.base, nil, nil) })
	// --window-size is the outer window: grow it by the browser's own
	// frame so the page (and screenshots) get width x height.
	var frame []int
	if err := b.Exec(&frame, `return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]`); err == nil && len(frame) == 2 {
		rect := map[string]any{"width": width + frame[0], "height": height + frame[1]}
		if err := b.call(http.MethodPost, b.base+"/window/rect", rect, nil); err != nil {
			t.Logf("window size %dx%d: %v", width, height, err)
		}
	}
	return b
}

// Navigate loads url and waits for the page's load event.
func (b *Browser) Navigate(url string) error {
	return b.call(http.MethodPost, b.base+"/url", map[string]any{"url": url}, nil)
}

// Exec runs script as a function body (arguments in `arguments`) and
// decodes what it returns into out (nil: ignored).
func (b *Browser) Exec(out any, script string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return b.call(http.MethodPost, b.base+"/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// WaitFor polls script until it returns true, for up to timeout; on
// timeout the error carries what describe (another script) returns, to
// say what the page showed instead.
func (b *Browser) WaitFor(ctx context.Context, timeout time.Duration, script, describe string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var ok bool
		err := b.Exec(&ok, script)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			var seen any
			if describe != "" {
				b.Exec(&seen, describe)
			}
			return fmt.Errorf("waited %s for %q (last error %v); page: %v", timeout, script, err, seen)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SendKeys types text into the focused element, as a person would
// (key events, not a value set by script). Special keys: Enter, Backspace.
func (b *Browser) SendKeys(text string) error {
	var el map[string]string
	if err := b.call(http.MethodGet, b.base+"/element/active", nil, &el); err != nil {
		return fmt.Errorf("finding the focused element: %w", err)
	}
	// The W3C element reference key.
	id := el["element-6066-11e4-a52e-4f735466cecf"]
	if id == "" {
		return fmt.Errorf("no focused element: %v", el)
	}
	return b.call(http.MethodPost, b.base+"/element/"+id+"/value", map[string]any{"text": text}, nil)
}

// Screenshot returns the viewport as a PNG.
func (b *Browser) Screenshot() ([]byte, error) {
	var s string
	if err := b.call(http.MethodGet, b.base+"/screenshot", nil, &s); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(s)
}

// SaveScreenshot keeps the viewport as the test artifact name (see
// Artifact), logs where, and returns the path; a failure is logged, not
// fatal: the screenshot documents the test, it is not what it checks.
func (b *Browser) SaveScreenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := b.Screenshot()
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := Artifact(t, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", p)
	return p
}

// ConsoleLog returns the browser's console messages since the last call
// (CSP violations, script errors): chromedriver's log extension, not W3C.
func (b *Browser) ConsoleLog() ([]string, error) {
	var entries []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	if err := b.call(http.MethodPost, b.base+"/se/log", map[string]any{"type": "browser"}, &entries); err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Level+" "+e.Message)
	}
	return out, nil
}

// Artifact is where a test keeps a file for people to look at after it
// ran: $XENAGENT_ARTIFACTS/<test>-<name> when set (make test, CI), else a
// folder under the system's temp dir that outlives the test (t.TempDir
// is removed at its end). The test should log the path.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	dir, err := artifactDir()
	if err != nil {
		t.Fatal(err)
	}
	test := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return filepath.Join(dir, test+"-"+name)
}

// artifactDir is one folder per test binary run.
var artifactDir = sync.OnceValues(func() (string, error) {
	if dir := os.Getenv("XENAGENT_ARTIFACTS"); dir != "" {
		return dir, os.MkdirAll(dir, 0o755)
	}
	return os.MkdirTemp("", "xenagent-artifacts-")
})

// call does one WebDriver request; a WebDriver error (HTTP 4xx/5xx with
// {"value":{"error","message"}}) becomes a Go error.
func (b *Browser) call(method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: HTTP %s, not WebDriver JSON: %.200s", method, url, resp.Status, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(env.Value, &e)
		msg, _, _ := strings.Cut(e.Message, "\n  (Session info") // chromedriver appends noise
		return fmt.Errorf("%s %s: %s: %s", method, strings.TrimPrefix(url, b.base), e.Error, msg)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

func (b *Browser) waitReady(root string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		err := b.call(http.MethodGet, root+"/status", nil, &st)
		if err == nil && st.Ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chromedriver not ready after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lookPath(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Missing skips the test saying why (a browser or what it needs is not
// there), or fails it when XENAGENT_REQUIRE_BROWSER=1.
func Missing(t testing.TB, why string) { t.Helper(); missing(t, why) }

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("XENAGENT_REQUIRE_BROWSER") == "1" {
		t.Fatal(why + " (XENAGENT_REQUIRE_BROWSER=1)")
	}
	t.Skip(why)
}
