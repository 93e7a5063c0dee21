//go:build !linux

package search

import "time"

// threadCPU is not available on this platform.
func threadCPU() (time.Duration, bool) { return 0, false }

// processCPU is not available on this platform.
func processCPU() (time.Duration, bool) { return 0, false }
