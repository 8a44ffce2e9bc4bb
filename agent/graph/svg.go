// Package graph renders a VM's usage as SVG line charts (cpu, each
// iface, each disk over a window), and serves them to token holders:
// GET /graph/{token}/{target}/{device}.svg?window=1d. It draws what
// agent/stats keeps; gaps (nothing measured) are breaks in the line.
package graph

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Chart is one graph: lines over time sharing one unit.
type Chart struct {
	Title string
	Unit  string // "%", "bit/s", "B/s"
	Start time.Time
	Step  time.Duration
	Lines []Line
}

// Line is one named series; NaN is a gap.
type Line struct {
	Name   string
	Values []float64
}

const (
	width, height         = 760, 330
	left, right, top, bot = 96, 24, 42, 92
	plotW, plotH          = width - left - right, height - top - bot
	yTicks                = 5
	fontStyle             = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12"`
)

var colors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"}

// Render writes c as a standalone SVG document.
func Render(w io.Writer, c Chart) error {
	var b strings.Builder
	n := 0
	top1 := 0.0
	for _, l := range c.Lines {
		n = max(n, len(l.Values))
		for _, v := range l.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top1 = max(top1, v)
			}
		}
	}
	yMax := niceCeil(top1)
	span := time.Duration(n) * c.Step
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>`+"\n", width, height, width, height, fontStyle)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(c.Title))
	// Y grid and labels.
	for i := 0; i <= yTicks; i++ {
		v := yMax * float64(i) / yTicks
		y := top + plotH - float64(plotH)*float64(i)/yTicks
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left, y, left+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, esc(FormatValue(v, c.Unit)))
	}
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+plotH/2, esc(c.Unit))
	// X ticks at round times.
	end := c.Start.Add(span)
	every, layout := xTicks(span)
	for t := c.Start.Truncate(every).Add(every); t.Before(end); t = t.Add(every) {
		x := left + float64(plotW)*float64(t.Sub(c.Start))/float64(span)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eeeeee"/>`+"\n", x, top, x, top+plotH)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555555"/>`+"\n", x, top+plotH, x, top+plotH+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, top+plotH+17, esc(t.UTC().Format(layout)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#555555">time (UTC), %s to %s</text>`+"\n",
		left+plotW, top+plotH+34, c.Start.UTC().Format("2006-01-02 15:04"), end.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#555555"/>`+"\n", left, top, plotW, plotH)
	// Lines, one path per run between gaps.
	for i, l := range c.Lines {
		col := colors[i%len(colors)]
		var d strings.Builder
		pen := false
		for j, v := range l.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				pen = false
				continue
			}
			x := left + float64(plotW)*(float64(j)+0.5)/float64(max(n, 1))
			y := top + float64(plotH) - float64(plotH)*v/yMax
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x, y)
			pen = true
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6" stroke-linejoin="round"/>`+"\n", strings.TrimSpace(d.String()), col)
		}
		// Legend: name and last, mean, max.
		lx, ly := left, top+plotH+56+i*18
		last, mean, hi := summary(l.Values)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`+"\n", lx, ly-4, col)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s   last %s   avg %s   max %s</text>`+"\n", lx+20, ly,
			esc(l.Name), esc(FormatValue(last, c.Unit)), esc(FormatValue(mean, c.Unit)), esc(FormatValue(hi, c.Unit)))
	}
	if top1 == 0 && allNaN(c.Lines) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#888888" font-size="14">no data yet for this window</text>`+"\n", left+plotW/2, top+plotH/2)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func allNaN(ls []Line) bool {
	for _, l := range ls {
		for _, v := range l.Values {
			if !math.IsNaN(v) {
				return false
			}
		}
	}
	return true
}

// summary is a line's last measured value, mean and max (NaN if none).
func summary(vs []float64) (last, mean, hi float64) {
	last, hi = math.NaN(), math.NaN()
	sum, n := 0.0, 0
	for _, v := range vs {
		if math.IsNaN(v) {
			continue
		}
		last = v
		sum += v
		n++
		if math.IsNaN(hi) || v > hi {
			hi = v
		}
	}
	if n == 0 {
		return last, math.NaN(), hi
	}
	return last, sum / float64(n), hi
}

// niceCeil is the smallest 1, 2, 2.5 or 5 times a power of ten at or
// above v (1 for nothing), so that the y ticks are round.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// xTicks picks the tick interval and label layout for a span.
func xTicks(span time.Duration) (time.Duration, string) {
	switch {
	case span <= 2*time.Hour:
		return 10 * time.Minute, "15:04"
	case span <= 2*24*time.Hour:
		return 3 * time.Hour, "15:04"
	case span <= 10*24*time.Hour:
		return 24 * time.Hour, "Mon 02"
	default:
		return 5 * 24 * time.Hour, "Jan 02"
	}
}

// FormatValue writes v with an SI prefix for rates ("1.5 Mbit/s"), as a
// percentage for "%", "-" for NaN.
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	if unit == "%" {
		return trim(fmt.Sprintf("%.1f", v)) + "%"
	}
	for _, p := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= p.f {
			return trim(fmt.Sprintf("%.2f", v/p.f)) + " " + p.s + unit
		}
	}
	return trim(fmt.Sprintf("%.2f", v)) + " " + unit
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func esc(s string) string { return html.EscapeString(s) }
