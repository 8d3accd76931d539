package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/acceptgate/acceptgate/internal/bench"
)

func sampleReports() []bench.PhaseReport {
	var rs []bench.PhaseReport
	for i, phase := range bench.Phases {
		r := bench.PhaseReport{Phase: phase, Backlog: 16, Clients: 48, Outcomes: map[string]int{}, Received: uint64(8 * i), Aborted: uint64(i)}
		for j, o := range bench.Outcomes {
			r.Outcomes[o] = (i + j) % 7 * 7
		}
		for k := range 100 {
			r.Queue = append(r.Queue, bench.QueueSample{At: time.Duration(k) * 20 * time.Millisecond, Len: (k + i) % 18})
		}
		rs = append(rs, r)
	}
	return rs
}

var svgText = regexp.MustCompile(`(<g transform="rotate\(90\)">\s*)?<text x="([-0-9.e]+)" y="([-0-9.e]+)"[^>]*font-size:([0-9.]+)px">([^<]*)</text>`)

type box struct {
	label                  string
	left, right, low, high float64
}

func (a box) overlaps(b box) bool {
	return a.left < b.right && b.left < a.right && a.low < b.high && b.low < a.high
}

// TestPlotKeepsEveryLabelInside draws the figure and checks that every state
// is named, no text runs off the canvas and no two texts overlap.
func TestPlotKeepsEveryLabelInside(t *testing.T) {
	file := filepath.Join(t.TempDir(), "backlog.svg")
	require.NoError(t, plotBacklog(sampleReports(), file))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	svg := string(b)
	width, height := 720.0, 0.0
	if m := regexp.MustCompile(`viewBox="0 0 ([0-9.]+) ([0-9.]+)"`).FindStringSubmatch(svg); assert.NotNil(t, m) {
		width, _ = strconv.ParseFloat(m[1], 64)
		height, _ = strconv.ParseFloat(m[2], 64)
	}
	var texts []string
	var boxes []box
	for _, m := range svgText.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[2], 64)
		y, _ := strconv.ParseFloat(m[3], 64)
		size, _ := strconv.ParseFloat(m[4], 64)
		label := m[5]
		texts = append(texts, label)
		sty := draw.TextStyle{Font: font.From(sans, vg.Length(size)), Handler: plot.DefaultTextHandler}
		w := float64(sty.Width(label))
		limit := width
		if m[1] != "" { // rotated: x runs down the canvas
			limit = height
		} else {
			// Every text is drawn flipped (scale(1, -1)): -y is its baseline.
			boxes = append(boxes, box{label, x, x + w, -y - 0.2*size, -y + 0.8*size})
		}
		assert.True(t, x >= 0 && x+w <= limit, "%q at %.1f..%.1f runs off the canvas (0..%.0f)", label, x, x+w, limit)
	}
	for i, a := range boxes {
		for _, b := range boxes[i+1:] {
			assert.False(t, a.overlaps(b), "%q and %q overlap", a.label, b.label)
		}
	}
	for _, want := range append(append([]string{}, bench.Phases...), "served", "timed out", "gave up", "received", "closed by the gate") {
		assert.Contains(t, texts, want)
	}
	assert.Contains(t, texts, "time since the clients started (ms)", "the time axis has its unit")
	assert.Contains(t, texts, "queued (connections)")
}

func TestPlotRefusesOtherFormats(t *testing.T) {
	err := plotBacklog(sampleReports(), filepath.Join(t.TempDir(), "backlog.gif"))
	assert.ErrorContains(t, err, "want a .svg or .png")
	assert.Error(t, plotBacklog(nil, filepath.Join(t.TempDir(), "backlog.svg")))
}
