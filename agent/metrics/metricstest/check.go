// Package metricstest checks a /metrics page line by line against the
// Prometheus text format (0.0.4) and the rules package metrics keeps
// (HELP and TYPE once per family, before its samples; families whole and
// sorted; histogram buckets cumulative, ending at +Inf = _count), and
// gives the samples back for the test's own checks. It is for tests.
package metricstest

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Sample is one sample line.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Page is a parsed page.
type Page struct {
	Types   map[string]string // family -> type
	Help    map[string]string
	Samples []Sample
}

var (
	nameRE  = `[a-zA-Z_:][a-zA-Z0-9_:]*`
	helpRE  = regexp.MustCompile(`^# HELP (` + nameRE + `) (.*)$`)
	typeRE  = regexp.MustCompile(`^# TYPE (` + nameRE + `) (counter|gauge|histogram|summary|untyped)$`)
	lineRE  = regexp.MustCompile(`^(` + nameRE + `)(?:\{(.*)\})? (\S+)(?: (-?[0-9]+))?$`)
	labelRE = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"`)
)

// Check parses body, failing t with every line that breaks a rule.
func Check(t testing.TB, body []byte) Page {
	t.Helper()
	p, errs := Parse(string(body))
	for _, e := range errs {
		t.Error(e)
	}
	if len(errs) > 0 {
		t.Fatalf("/metrics is not valid exposition text:\n%s", body)
	}
	return p
}

// Parse parses a page and returns every broken rule, naming the line.
func Parse(body string) (Page, []error) {
	p := Page{Types: map[string]string{}, Help: map[string]string{}}
	var errs []error
	fail := func(n int, line, format string, a ...any) {
		errs = append(errs, fmt.Errorf("line %d %q: %s", n, line, fmt.Sprintf(format, a...)))
	}
	if body == "" {
		return p, nil
	}
	if !strings.HasSuffix(body, "\n") {
		errs = append(errs, fmt.Errorf("the page does not end with a newline"))
	}
	cur, last := "", ""
	done := map[string]bool{} // families already closed
	hist := map[string]*histState{}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		n := i + 1
		switch {
		case line == "":
			fail(n, line, "empty line")
		case strings.HasPrefix(line, "# HELP "):
			m := helpRE.FindStringSubmatch(line)
			if m == nil {
				fail(n, line, "bad HELP")
				continue
			}
			if _, dup := p.Help[m[1]]; dup {
				fail(n, line, "second HELP for %s", m[1])
			}
			if m[1] != cur {
				if done[m[1]] {
					fail(n, line, "family %s appears twice", m[1])
				}
				if cur != "" {
					done[cur] = true
				}
				if m[1] < last {
					fail(n, line, "family %s after %s: not sorted", m[1], last)
				}
				cur, last = m[1], m[1]
			}
			if strings.Contains(strings.ReplaceAll(m[2], `\\`, ""), `\`) && !validEscapes(m[2]) {
				fail(n, line, "bad escape in HELP")
			}
			p.Help[m[1]] = m[2]
		case strings.HasPrefix(line, "# TYPE "):
			m := typeRE.FindStringSubmatch(line)
			if m == nil {
				fail(n, line, "bad TYPE")
				continue
			}
			if m[1] != cur {
				fail(n, line, "TYPE of %s is not after its HELP", m[1])
			}
			if _, dup := p.Types[m[1]]; dup {
				fail(n, line, "second TYPE for %s", m[1])
			}
			p.Types[m[1]] = m[2]
		case strings.HasPrefix(line, "#"):
			// another comment: allowed by the format
		default:
			s, err := parseSample(line)
			if err != nil {
				fail(n, line, "%v", err)
				continue
			}
			fam := familyOf(s.Name, p.Types[cur])
			if fam != cur || p.Types[cur] == "" {
				fail(n, line, "sample of %s outside its family (in %s, or before its TYPE)", s.Name, cur)
				continue
			}
			if p.Types[cur] == "histogram" {
				if err := checkHistogram(hist, cur, s); err != nil {
					fail(n, line, "%v", err)
				}
			}
			p.Samples = append(p.Samples, s)
		}
	}
	for name, h := range hist {
		for k, st := range h.series {
			if !st.inf || !st.count || st.infCount != st.countVal {
				errs = append(errs, fmt.Errorf("histogram %s{%s}: needs a +Inf bucket equal to _count (inf %v %v, count %v %v)", name, k, st.inf, st.infCount, st.count, st.countVal))
			}
			if !st.sum {
				errs = append(errs, fmt.Errorf("histogram %s{%s}: no _sum", name, k))
			}
		}
	}
	return p, errs
}

func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+1 >= len(s) || (s[i+1] != '\\' && s[i+1] != 'n') {
				return false
			}
			i++
		}
	}
	return true
}

func parseSample(line string) (Sample, error) {
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		return Sample{}, fmt.Errorf("not name{labels} value")
	}
	s := Sample{Name: m[1], Labels: map[string]string{}}
	rest := m[2]
	for rest != "" {
		lm := labelRE.FindStringSubmatch(rest)
		if lm == nil {
			return s, fmt.Errorf("bad label at %q", rest)
		}
		if _, dup := s.Labels[lm[1]]; dup {
			return s, fmt.Errorf("label %s twice", lm[1])
		}
		s.Labels[lm[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(lm[2])
		rest = rest[len(lm[0]):]
		if rest != "" {
			if rest[0] != ',' {
				return s, fmt.Errorf("labels not separated by commas at %q", rest)
			}
			rest = rest[1:]
		}
	}
	v, err := parseValue(m[3])
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "_xXpP") || strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") {
		return 0, fmt.Errorf("value %q is not a float", s)
	}
	return v, nil
}

func familyOf(name, typ string) string {
	if typ == "histogram" || typ == "summary" {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(name, suf); ok {
				return f
			}
		}
	}
	return name
}

type histState struct{ series map[string]*seriesState }

type seriesState struct {
	lastLE             float64
	lastCount          float64
	inf, count, sum    bool
	infCount, countVal float64
}

func checkHistogram(hist map[string]*histState, fam string, s Sample) error {
	h := hist[fam]
	if h == nil {
		h = &histState{series: map[string]*seriesState{}}
		hist[fam] = h
	}
	le, isBucket := s.Labels["le"]
	key := labelKey(s.Labels)
	st := h.series[key]
	if st == nil {
		st = &seriesState{lastLE: math.Inf(-1)}
		h.series[key] = st
	}
	switch {
	case strings.HasSuffix(s.Name, "_bucket"):
		if !isBucket {
			return fmt.Errorf("bucket without le")
		}
		b, err := parseValue(le)
		if err != nil {
			return fmt.Errorf("le: %v", err)
		}
		if b <= st.lastLE {
			return fmt.Errorf("le %s not increasing", le)
		}
		if s.Value < st.lastCount {
			return fmt.Errorf("bucket count %v below the one before (%v): not cumulative", s.Value, st.lastCount)
		}
		st.lastLE, st.lastCount = b, s.Value
		if math.IsInf(b, 1) {
			st.inf, st.infCount = true, s.Value
		}
	case strings.HasSuffix(s.Name, "_count"):
		st.count, st.countVal = true, s.Value
	case strings.HasSuffix(s.Name, "_sum"):
		st.sum = true
	default:
		return fmt.Errorf("%s: not _bucket, _sum or _count", s.Name)
	}
	return nil
}

// labelKey is a series' labels without le.
func labelKey(ls map[string]string) string {
	var parts []string
	for k, v := range ls {
		if k != "le" {
			parts = append(parts, k+"="+v)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Find returns the samples named name whose labels include want's pairs.
func (p Page) Find(name string, want ...string) []Sample {
	var out []Sample
	for _, s := range p.Samples {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			if s.Labels[want[i]] != want[i+1] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// Sum adds the values of Find's samples.
func (p Page) Sum(name string, want ...string) float64 {
	var t float64
	for _, s := range p.Find(name, want...) {
		t += s.Value
	}
	return t
}
