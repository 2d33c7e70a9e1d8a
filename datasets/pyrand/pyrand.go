// Package pyrand ports the parts of CPython's random module that the
// subliminal-learning paper uses to subsample a filtered dataset:
// random.Random(seed) for an integer seed (Modules/_randommodule.c:
// random_seed, init_by_array, genrand_uint32, getrandbits) and
// Random.sample with its helper _randbelow_with_getrandbits
// (Lib/random.py), so that the same seed picks the same rows as the
// paper's random.Random(seed).sample(rows, max_dataset_size).
//
// The algorithms are those of CPython 3.2 through at least 3.13; the test
// vectors in testdata/vectors.json come from CPython 3.11 via
// testdata/gen_vectors.py. A Random is not safe for concurrent use.
package pyrand

import (
	"fmt"
	"math/bits"

	"github.com/traitleak/traitleak/datasets/internal/mt19937"
)

// Random is CPython's random.Random: MT19937 seeded by init_by_array.
type Random struct {
	mt mt19937.MT
}

// New returns random.Random(seed). Like CPython it seeds with |seed|, so
// New(-42) equals New(42).
func New(seed int64) *Random {
	mag := uint64(seed)
	if seed < 0 {
		mag = -mag // also right for math.MinInt64: 2^63
	}
	return NewUint64(mag)
}

// NewUint64 returns random.Random(seed) for a non-negative seed up to
// 2^64-1: init_by_array of the seed's 32-bit words, least significant
// first, with at least one word.
func NewUint64(seed uint64) *Random {
	key := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		key = append(key, hi)
	}
	r := &Random{}
	r.mt.SeedArray(key)
	return r
}

// Uint32 returns the next raw 32-bit output (genrand_uint32).
func (r *Random) Uint32() uint32 { return r.mt.Uint32() }

// GetRandBits returns random.getrandbits(k) for 0 <= k <= 64: k random
// bits built from 32-bit outputs, least significant word first, the last
// word keeping its most significant bits. It panics if k is out of range.
func (r *Random) GetRandBits(k int) uint64 {
	switch {
	case k < 0 || k > 64:
		panic(fmt.Sprintf("pyrand: GetRandBits(%d): k outside [0, 64]", k))
	case k == 0:
		return 0
	case k <= 32:
		return uint64(r.mt.Uint32() >> (32 - k))
	}
	lo := uint64(r.mt.Uint32())
	hi := r.mt.Uint32() >> (64 - k)
	return uint64(hi)<<32 | lo
}

// RandBelow returns random._randbelow(n), a uniform integer in [0, n)
// drawn by rejection from getrandbits(n.bit_length()). It panics if n is
// 0, where CPython's public callers raise ValueError.
func (r *Random) RandBelow(n uint64) uint64 {
	if n == 0 {
		panic("pyrand: RandBelow(0)")
	}
	k := bits.Len64(n)
	v := r.GetRandBits(k)
	for v >= n {
		v = r.GetRandBits(k)
	}
	return v
}

// Sample returns the indices random.sample(range(n), k) returns: k
// distinct indices of a population of n, in selection order. Index i of
// the result names population[i] of random.sample(population, k) for any
// population of length n. It is an error unless 0 <= k <= n.
//
// As CPython, it draws from a shrinking pool when n is at most setsize
// (21, plus 4^⌈log₄(3k)⌉ when k > 5) and otherwise redraws indices
// already taken; the two branches give different results, and the branch
// is part of the algorithm.
func (r *Random) Sample(n, k int) ([]int, error) {
	if k < 0 || k > n {
		return nil, fmt.Errorf("sample %d of %d: sample larger than population or is negative", k, n)
	}
	out := make([]int, k)
	if n <= setSize(k) {
		pool := make([]int, n)
		for i := range pool {
			pool[i] = i
		}
		for i := range k {
			j := int(r.RandBelow(uint64(n - i)))
			out[i] = pool[j]
			pool[j] = pool[n-i-1]
		}
		return out, nil
	}
	selected := make(map[int]struct{}, k)
	for i := range k {
		j := int(r.RandBelow(uint64(n)))
		for {
			if _, ok := selected[j]; !ok {
				break
			}
			j = int(r.RandBelow(uint64(n)))
		}
		selected[j] = struct{}{}
		out[i] = j
	}
	return out, nil
}

// setSize is Random.sample's setsize: 21, plus 4**ceil(log(3k, 4)) when
// k > 5. CPython computes the exponent in floating point; 3k is never a
// power of 4, so the exponent is the least m with 4^m > 3k, which the
// integer loop finds exactly. The two agree while the float rounding error
// of log(3k)/log(4) is smaller than its distance to the next integer,
// which holds for every k below 2^40 (the distance is at least
// 1/(4^m ln 4) ≈ 1.6e-13 there, the rounding error about 1e-14). The test
// vectors check the boundaries up to k = 21,846; CPython 3.11 agrees with
// this loop at k = ⌊4^m/3⌋-1 … ⌊4^m/3⌋+2 for every m ≤ 20.
func setSize(k int) int {
	size := 21
	if k > 5 {
		p := 1
		for p <= 3*k {
			p *= 4
		}
		size += p
	}
	return size
}
