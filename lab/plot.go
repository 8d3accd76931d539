package main

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/acceptgate/acceptgate/internal/bench"
)

// stateColors gives each state of the experiment its colour in every panel
// (Okabe and Ito's palette, told apart with most colour-vision deficiencies).
var stateColors = []color.Color{
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, // green
	color.RGBA{0xe6, 0x9f, 0x00, 0xff}, // orange
	color.RGBA{0xd5, 0x5e, 0x00, 0xff}, // vermillion
	color.RGBA{0x00, 0x72, 0xb2, 0xff}, // blue
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
	color.RGBA{0x56, 0xb4, 0xe9, 0xff}, // sky blue
	color.RGBA{0x55, 0x55, 0x55, 0xff}, // grey
}

func stateColor(i int) color.Color { return stateColors[i%len(stateColors)] }

// Sizes are chosen for the figure shown about 900 pixels wide, as a README
// shows it: 10 inches at 90 pixels an inch, text no smaller than 11 pixels.
const (
	figWidth  = 10 * vg.Inch
	titleSize = vg.Length(12)
	labelSize = vg.Length(10.5)
	tickSize  = vg.Length(9.5)
	queueCols = 3
)

var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// plotBacklog draws, to an SVG or PNG file, the accept queue over time in
// one small panel per state, then what the clients saw and what the server
// received, with the states in the same colours throughout and their key
// below.
func plotBacklog(reports []bench.PhaseReport, file string) error {
	if len(reports) == 0 {
		return fmt.Errorf("backlog: nothing to plot")
	}
	plot.DefaultFont = sans
	plotter.DefaultFont = sans
	queues := queuePlots(reports)
	outcomes := groupedPlot(reports, fmt.Sprintf("What the clients saw (backlog %d)", reports[0].Backlog), "clients", outcomeGroups())
	server := groupedPlot(reports, "What the server's Accept got", "connections", serverGroups())

	queueRows := (len(reports) + queueCols - 1) / queueCols
	queueRowH, barsH, keyH := 2.1*vg.Inch, 3.2*vg.Inch, 0.45*vg.Inch
	height := vg.Length(queueRows)*queueRowH + barsH + keyH
	var canvas interface {
		vg.CanvasSizer
		WriteTo(w io.Writer) (int64, error)
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg":
		canvas = vgsvg.New(figWidth, height)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(figWidth, height), vgimg.UseDPI(180))}
	default:
		return fmt.Errorf("backlog: -plot %s: want a .svg or .png file", file)
	}
	dc := draw.New(canvas)
	dc.FillPolygon(color.White, []vg.Point{dc.Min, {X: dc.Max.X, Y: dc.Min.Y}, dc.Max, {X: dc.Min.X, Y: dc.Max.Y}})

	pad := vg.Inch / 8
	top := draw.Crop(dc, 0, 0, barsH+keyH, 0)
	grid := make([][]*plot.Plot, queueRows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, queueCols)
		for j := range grid[i] {
			if k := i*queueCols + j; k < len(queues) {
				grid[i][j] = queues[k]
			}
		}
	}
	tiles := draw.Tiles{Rows: queueRows, Cols: queueCols, PadX: pad, PadY: pad, PadLeft: pad, PadRight: pad, PadTop: pad, PadBottom: pad}
	for i, row := range plot.Align(grid, tiles, top) {
		for j, c := range row {
			if grid[i][j] != nil {
				grid[i][j].Draw(c)
			}
		}
	}
	bottom := draw.Crop(dc, 0, 0, keyH, -(vg.Length(queueRows) * queueRowH))
	// The outcome panel has three times the groups of the server's: it gets
	// more of the width.
	split := 0.66 * (bottom.Max.X - bottom.Min.X)
	outcomes.Draw(draw.Crop(bottom, pad, split-(bottom.Max.X-bottom.Min.X)-pad, pad, -pad))
	server.Draw(draw.Crop(bottom, split+pad, -pad, pad, -pad))
	drawKey(draw.Crop(dc, 0, 0, 0, -(height-keyH)), reports)

	var out bytes.Buffer
	if _, err := canvas.WriteTo(&out); err != nil {
		return err
	}
	b := out.Bytes()
	if _, ok := canvas.(*vgsvg.Canvas); ok {
		// Liberation Sans has Arial's metrics: a viewer without it lays the
		// text out the same with Arial or Helvetica, rather than falling
		// back to a serif font of other widths.
		b = bytes.ReplaceAll(b, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	}
	return os.WriteFile(file, b, 0o644)
}

func styled(p *plot.Plot) {
	p.Title.TextStyle.Font.Size = titleSize
	p.X.Label.TextStyle.Font.Size = labelSize
	p.Y.Label.TextStyle.Font.Size = labelSize
	p.X.Tick.Label.Font.Size = tickSize
	p.Y.Tick.Label.Font.Size = tickSize
	p.Title.Padding = vg.Points(4)
	p.X.Tick.Marker = plainTicks{}
	p.Y.Tick.Marker = plainTicks{}
}

// plainTicks are gonum's default ticks, labelled without trailing zeros:
// the figures are counts and milliseconds.
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// queuePlots draws one panel per state, all with the same axes, so that
// states whose queues take the same values do not hide each other.
func queuePlots(reports []bench.PhaseReport) []*plot.Plot {
	var tMax float64
	qMax := reports[0].Backlog + 1
	for _, r := range reports {
		for _, s := range r.Queue {
			tMax = max(tMax, float64(s.At.Microseconds())/1000)
			qMax = max(qMax, s.Len)
		}
	}
	rows := (len(reports) + queueCols - 1) / queueCols
	var plots []*plot.Plot
	for i, r := range reports {
		p := plot.New()
		styled(p)
		p.Title.Text = "queue while " + r.Phase
		p.Title.TextStyle.Font.Size = labelSize
		if i%queueCols == 0 {
			p.Y.Label.Text = "queued (connections)"
		}
		if i/queueCols == rows-1 || i+queueCols >= len(reports) {
			p.X.Label.Text = "time since the clients started (ms)"
		}
		pts := make(plotter.XYs, len(r.Queue))
		for j, s := range r.Queue {
			pts[j].X = float64(s.At.Microseconds()) / 1000
			pts[j].Y = float64(s.Len)
		}
		grid := plotter.NewGrid()
		grid.Vertical.Color = color.Gray{0xdd}
		grid.Horizontal.Color = color.Gray{0xdd}
		p.Add(grid)
		if len(pts) > 0 {
			line, err := plotter.NewLine(pts)
			if err == nil {
				line.StepStyle = plotter.PostStep
				line.Color = stateColor(i)
				line.Width = vg.Points(2)
				p.Add(line)
			}
		}
		p.X.Min, p.X.Max = 0, max(tMax, 1)
		p.Y.Min, p.Y.Max = 0, float64(qMax)+2
		plots = append(plots, p)
	}
	return plots
}

// A group is one cluster of bars: one bar per state.
type group struct {
	name  string
	value func(bench.PhaseReport) float64
}

func outcomeGroups() []group {
	var gs []group
	for _, o := range bench.Outcomes {
		gs = append(gs, group{strings.ReplaceAll(o, "_", " "), func(r bench.PhaseReport) float64 { return float64(r.Outcomes[o]) }})
	}
	return gs
}

func serverGroups() []group {
	return []group{
		{"received", func(r bench.PhaseReport) float64 { return float64(r.Received) }},
		{"closed by the gate", func(r bench.PhaseReport) float64 { return float64(r.Aborted) }},
	}
}

func groupedPlot(reports []bench.PhaseReport, title, unit string, groups []group) *plot.Plot {
	p := plot.New()
	styled(p)
	p.Title.Text = title
	p.Y.Label.Text = unit
	g := plotter.NewGrid()
	g.Vertical.Width = 0
	g.Horizontal.Color = color.Gray{0xdd}
	p.Add(g)
	bars := &groupedBars{reports: reports, groups: groups}
	p.Add(bars)
	names := make([]string, len(groups))
	var top float64
	for i, gr := range groups {
		names[i] = gr.name
		for _, r := range reports {
			top = max(top, gr.value(r))
		}
	}
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = labelSize
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.Y.Min, p.Y.Max = 0, max(top*1.12, 1) // room for the figures over the bars
	return p
}

// groupedBars draws, for each group at x = 0, 1, ..., one bar per state side
// by side within 0.84 of a unit, with its figure above it; zeros are left
// out, so that what happened stands out.
type groupedBars struct {
	reports []bench.PhaseReport
	groups  []group
}

func (b *groupedBars) Plot(c draw.Canvas, p *plot.Plot) {
	x, y := p.Transforms(&c)
	n := float64(len(b.reports))
	w := 0.84 / n
	sty := draw.TextStyle{Color: color.Black, Font: font.From(sans, tickSize), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter}
	for gi, gr := range b.groups {
		for si, r := range b.reports {
			v := gr.value(r)
			if v == 0 {
				continue
			}
			left := float64(gi) - 0.42 + float64(si)*w
			x0, x1 := x(left)+vg.Points(0.5), x(left+w)-vg.Points(0.5)
			y0, y1 := y(0), y(v)
			c.FillPolygon(stateColor(si), []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
			c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: y1 + vg.Points(2)}, fmt.Sprint(v))
		}
	}
}

func (b *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	return -0.5, float64(len(b.groups)) - 0.5, 0, 1
}

// drawKey writes the states' colours in a row across c, centred.
func drawKey(c draw.Canvas, reports []bench.PhaseReport) {
	sty := draw.TextStyle{Color: color.Black, Font: font.From(sans, labelSize), Handler: plot.DefaultTextHandler, YAlign: draw.YCenter}
	swatch, gap := vg.Points(11), vg.Points(5)
	var width vg.Length
	for _, r := range reports {
		width += swatch + gap + sty.Width(r.Phase) + 3*gap
	}
	px := c.Min.X + (c.Max.X-c.Min.X-width)/2
	py := (c.Min.Y + c.Max.Y) / 2
	for i, r := range reports {
		c.FillPolygon(stateColor(i), []vg.Point{{X: px, Y: py - swatch/2}, {X: px + swatch, Y: py - swatch/2}, {X: px + swatch, Y: py + swatch/2}, {X: px, Y: py + swatch/2}})
		px += swatch + gap
		c.FillText(sty, vg.Point{X: px, Y: py}, r.Phase)
		px += sty.Width(r.Phase) + 3*gap
	}
}
