package nprand

import (
	"fmt"
	"math"
	"math/bits"
)

// Generator is numpy's Generator over a PCG64 bit generator, for the
// methods the paper's prompt generator calls.
type Generator struct {
	bg *PCG64
}

// NewGenerator returns np.random.default_rng(seed), that is
// Generator(PCG64(seed)).
func NewGenerator(seed uint64) *Generator {
	return &Generator{bg: NewPCG64(seed)}
}

// BitGenerator returns the generator's PCG64, shared, not copied.
func (g *Generator) BitGenerator() *PCG64 { return g.bg }

// Integers returns Generator.integers(low, high): a uniform integer in
// [low, high) drawn as numpy does for the default dtype int64. It panics
// if low >= high, where numpy raises ValueError.
func (g *Generator) Integers(low, high int64) int64 {
	if low >= high {
		panic(fmt.Sprintf("nprand: Integers(%d, %d): high <= low", low, high))
	}
	// _rand_int64: the closed interval [low, high-1] as off + [0, rng].
	rng := uint64(high-1) - uint64(low)
	return int64(uint64(low) + g.boundedLemire(rng))
}

// boundedLemire returns a uniform value in [0, rng] as
// random_bounded_uint64_fill with use_masked false and a count of 1.
func (g *Generator) boundedLemire(rng uint64) uint64 {
	switch {
	case rng == 0:
		return 0
	case rng == math.MaxUint32:
		return uint64(g.bg.Uint32())
	case rng < math.MaxUint32:
		return uint64(boundedLemire32(g.bg, uint32(rng)))
	case rng == math.MaxUint64:
		return g.bg.Uint64()
	default:
		return boundedLemire64(g.bg, rng)
	}
}

// boundedLemire32 is buffered_bounded_lemire_uint32 (Lemire 2019,
// arXiv:1805.10941) for rng < 2^32-1: a value in [0, rng].
func boundedLemire32(bg *PCG64, rng uint32) uint32 {
	excl := rng + 1
	m := uint64(bg.Uint32()) * uint64(excl)
	leftover := uint32(m)
	if leftover < excl {
		threshold := (math.MaxUint32 - rng) % excl
		for leftover < threshold {
			m = uint64(bg.Uint32()) * uint64(excl)
			leftover = uint32(m)
		}
	}
	return uint32(m >> 32)
}

// boundedLemire64 is bounded_lemire_uint64 for 2^32-1 < rng < 2^64-1: a
// value in [0, rng].
func boundedLemire64(bg *PCG64, rng uint64) uint64 {
	excl := rng + 1
	hi, lo := bits.Mul64(bg.Uint64(), excl)
	if lo < excl {
		threshold := (math.MaxUint64 - rng) % excl
		for lo < threshold {
			hi, lo = bits.Mul64(bg.Uint64(), excl)
		}
	}
	return hi
}

// Choice returns Generator.choice(xs) for a one-dimensional list drawn
// uniformly with replacement: xs[integers(0, len(xs))]. It panics if xs is
// empty, where numpy raises ValueError.
func Choice[T any](g *Generator, xs []T) T {
	if len(xs) == 0 {
		panic("nprand: Choice from an empty list")
	}
	return xs[g.Integers(0, int64(len(xs)))]
}
