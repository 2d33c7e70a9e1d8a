package nprand

import (
	"fmt"
	"math"

	"github.com/traitleak/traitleak/datasets/internal/mt19937"
)

// RandomState is numpy's legacy RandomState (MT19937) for its integer
// draws. The paper's programmatic-random control dataset draws from
// RandomState(42).
type RandomState struct {
	mt mt19937.MT
}

// NewRandomState returns np.random.RandomState(seed) for an integer seed
// (numpy accepts 0 to 2^32-1): the legacy init_genrand seeding, not a
// SeedSequence.
func NewRandomState(seed uint32) *RandomState {
	r := &RandomState{}
	r.mt.SeedInt(seed)
	return r
}

// Uint32 returns the next raw 32-bit MT19937 output.
func (r *RandomState) Uint32() uint32 { return r.mt.Uint32() }

// uint64 is mt19937_next64: two 32-bit outputs, the first as the high half.
func (r *RandomState) uint64() uint64 {
	hi := uint64(r.mt.Uint32())
	return hi<<32 | uint64(r.mt.Uint32())
}

// Randint returns RandomState.randint(low, high): a uniform integer in
// [low, high) drawn with the masked rejection method numpy keeps for
// backward compatibility. Randint(low, high) n times equals
// randint(low, high, size=n). It panics if low >= high, where numpy raises
// ValueError.
func (r *RandomState) Randint(low, high int64) int64 {
	if low >= high {
		panic(fmt.Sprintf("nprand: Randint(%d, %d): low >= high", low, high))
	}
	rng := uint64(high-1) - uint64(low)
	return int64(uint64(low) + r.boundedMasked(rng))
}

// boundedMasked returns a value in [0, rng] as random_bounded_uint64_fill
// with use_masked true.
func (r *RandomState) boundedMasked(rng uint64) uint64 {
	switch {
	case rng == 0:
		return 0
	case rng == math.MaxUint32:
		return uint64(r.mt.Uint32())
	case rng < math.MaxUint32:
		mask := uint32(genMask(rng))
		for {
			if v := r.mt.Uint32() & mask; v <= uint32(rng) {
				return uint64(v)
			}
		}
	case rng == math.MaxUint64:
		return r.uint64()
	default:
		mask := genMask(rng)
		for {
			if v := r.uint64() & mask; v <= rng {
				return v
			}
		}
	}
}

// genMask returns the smallest all-ones mask covering max (gen_mask).
func genMask(max uint64) uint64 {
	m := max
	m |= m >> 1
	m |= m >> 2
	m |= m >> 4
	m |= m >> 8
	m |= m >> 16
	m |= m >> 32
	return m
}
