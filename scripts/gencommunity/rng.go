package main

import "math/rand/v2"

// rng is a seeded PCG stream. Only Uint64 of the source is used, so the output
// depends on the PCG algorithm alone, not on how a Go release implements
// IntN or Shuffle.
type rng struct{ src *rand.PCG }

// newRNG returns the stream for a seed; stream tells independent streams of
// one seed apart (0 for the organisations, 1+i for the people of org i).
func newRNG(seed, stream uint64) rng {
	return rng{src: rand.NewPCG(seed, stream^0x9e3779b97f4a7c15)}
}

// intn returns a number in [0, n); the modulo bias is below 2^-40 for the
// small n used here.
func (r rng) intn(n int) int { return int(r.src.Uint64() % uint64(n)) }

// chance is true with the given probability in percent.
func (r rng) chance(percent int) bool { return r.intn(100) < percent }

// between returns a number in [lo, hi].
func (r rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

func pick[T any](r rng, xs []T) T { return xs[r.intn(len(xs))] }
