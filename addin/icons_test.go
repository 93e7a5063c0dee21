package addin

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated add-in icons in outlook/assets")

// iconSizes are the square icons the manifests refer to.
var iconSizes = []int{16, 32, 64, 80, 128, 192}

// TestIcons checks the committed icons, or rewrites them with -update:
// go test ./addin -run TestIcons -update
func TestIcons(t *testing.T) {
	for _, n := range iconSizes {
		path := filepath.Join("outlook", "assets", "icon-"+strconv.Itoa(n)+".png")
		want := encodeIcon(t, drawIcon(n))
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		// Pixels, not bytes: the PNG encoder's compressed output differs between Go releases.
		if !samePixels(t, got, want) {
			t.Errorf("%s differs from the generator (run with -update)", path)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(got))
		if err != nil || cfg.Width != n || cfg.Height != n {
			t.Errorf("%s: %dx%d, %v; want %dx%d", path, cfg.Width, cfg.Height, err, n, n)
		}
	}
}

// samePixels reports whether two PNG files decode to the same colours.
func samePixels(t *testing.T, a, b []byte) bool {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Errorf("decode: %v", err)
		return false
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil || ia.Bounds() != ib.Bounds() {
		return false
	}
	for y := ia.Bounds().Min.Y; y < ia.Bounds().Max.Y; y++ {
		for x := ia.Bounds().Min.X; x < ia.Bounds().Max.X; x++ {
			if color.NRGBAModel.Convert(ia.At(x, y)) != color.NRGBAModel.Convert(ib.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func encodeIcon(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// drawIcon paints a white padlock on a dark-blue rounded square.
func drawIcon(n int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	blue := color.NRGBA{0x15, 0x42, 0x73, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	s := float64(n)
	for y := range n {
		for x := range n {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			switch {
			case !inRoundedRect(fx, fy, 0, 0, s, s, s*0.18):
				continue
			case inPadlock(fx/s, fy/s):
				img.SetNRGBA(x, y, white)
			default:
				img.SetNRGBA(x, y, blue)
			}
		}
	}
	return img
}

// inPadlock reports whether the unit-square point (u, v) is on the padlock.
func inPadlock(u, v float64) bool {
	if inRoundedRect(u, v, 0.24, 0.45, 0.76, 0.82, 0.06) {
		// keyhole
		return !(sq(u-0.5)+sq(v-0.59) < sq(0.06) || (u > 0.47 && u < 0.53 && v > 0.59 && v < 0.72))
	}
	if v > 0.47 || v < 0.14 {
		return false
	}
	d := sq(u-0.5) + sq(v-0.4)
	if v > 0.4 {
		// the shackle's straight legs
		return (u > 0.29 && u < 0.37) || (u > 0.63 && u < 0.71)
	}
	return d < sq(0.21) && d > sq(0.13)
}

func inRoundedRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := min(max(x, x0+r), x1-r)
	cy := min(max(y, y0+r), y1-r)
	return sq(x-cx)+sq(y-cy) <= sq(r)
}

func sq(f float64) float64 { return f * f }
