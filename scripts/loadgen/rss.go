package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

var errNoRSS = errors.New("loadgen: no VmRSS in status")

// rss is the -mode rss output, in KiB as /proc/PID/status reports them
// (proc(5)).
type rss struct {
	PID     int   `json:"pid"`
	VmRSSKB int64 `json:"vmrss_kb"`
	VmHWMKB int64 `json:"vmhwm_kb"`
}

func reportRSS(w io.Writer, pid int) error {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return fmt.Errorf("loadgen: rss: %w", err)
	}
	defer f.Close()
	r, err := parseStatus(f)
	if err != nil {
		return err
	}
	r.PID = pid
	if err := json.NewEncoder(w).Encode(r); err != nil {
		return fmt.Errorf("loadgen: write rss: %w", err)
	}
	return nil
}

// parseStatus reads the VmRSS and VmHWM lines ("VmRSS:\t  1234 kB").
func parseStatus(r io.Reader) (rss, error) {
	var out rss
	found := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return out, fmt.Errorf("loadgen: parse %s: %w", key, err)
		}
		if key == "VmRSS" {
			out.VmRSSKB, found = kb, true
		} else {
			out.VmHWMKB = kb
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("loadgen: read status: %w", err)
	}
	if !found {
		return out, errNoRSS
	}
	return out, nil
}
