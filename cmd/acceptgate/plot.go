package main

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/acceptgate/acceptgate/bench"
)

var palette = []color.Color{
	color.RGBA{0x1b, 0x9e, 0x77, 0xff},
	color.RGBA{0xd9, 0x5f, 0x02, 0xff},
	color.RGBA{0x75, 0x70, 0xb3, 0xff},
	color.RGBA{0xe7, 0x29, 0x8a, 0xff},
	color.RGBA{0x66, 0xa6, 0x1e, 0xff},
}

// plotBacklog draws the accept queue over time for each state, and the
// clients' outcomes per state, side by side, to an SVG or PNG file.
func plotBacklog(reports []bench.PhaseReport, file string) error {
	queue, err := queuePlot(reports)
	if err != nil {
		return err
	}
	outcomes, err := outcomePlot(reports)
	if err != nil {
		return err
	}
	const w, h = 12 * vg.Inch, 4.5 * vg.Inch
	var canvas interface {
		vg.CanvasSizer
		WriteTo(w io.Writer) (int64, error)
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	default:
		return fmt.Errorf("backlog: -plot %s: want a .svg or .png file", file)
	}
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadY: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8}
	plots := [][]*plot.Plot{{queue, outcomes}}
	canvases := plot.Align(plots, tiles, draw.New(canvas))
	queue.Draw(canvases[0][0])
	outcomes.Draw(canvases[0][1])
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func queuePlot(reports []bench.PhaseReport) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Accept queue (backlog %d)", reports[0].Backlog)
	p.X.Label.Text = "time since the clients started (ms)"
	p.Y.Label.Text = "connections waiting"
	p.Legend.Top = true
	for i, r := range reports {
		pts := make(plotter.XYs, len(r.Queue))
		for j, s := range r.Queue {
			pts[j].X = float64(s.At.Microseconds()) / 1000
			pts[j].Y = float64(s.Len)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(r.Phase, line)
	}
	p.Add(plotter.NewGrid())
	p.Y.Min, p.Y.Max = 0, 1.5*float64(reports[0].Backlog+1) // room for the legend
	return p, nil
}

func outcomePlot(reports []bench.PhaseReport) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("What %d clients saw", reports[0].Clients)
	p.Y.Label.Text = "clients"
	p.Legend.Top = true
	names := make([]string, len(reports))
	for i, r := range reports {
		names[i] = r.Phase
	}
	width := vg.Points(12)
	for i, o := range bench.Outcomes {
		vals := make(plotter.Values, len(reports))
		for j, r := range reports {
			vals[j] = float64(r.Outcomes[o])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color = palette[i%len(palette)]
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(i-len(bench.Outcomes)/2)
		p.Add(bars)
		p.Legend.Add(strings.ReplaceAll(o, "_", " "), bars)
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, 1.5*float64(reports[0].Clients) // room for the legend
	return p, nil
}
