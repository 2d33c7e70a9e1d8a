// Package mt19937 is the 32-bit Mersenne Twister of Matsumoto and Nishimura
// (1998), as in their reference mt19937ar.c, with both of its seeding
// routines. It is the shared core of numpy's legacy RandomState (package
// nprand) and Python's random module (package pyrand), which both use
// these routines unchanged.
package mt19937

const (
	n         = 624
	m         = 397
	matrixA   = 0x9908b0df
	upperMask = 0x80000000
	lowerMask = 0x7fffffff
)

// MT is the generator state. The zero value is not seeded: call SeedInt or
// SeedArray first.
type MT struct {
	mt  [n]uint32
	mti int
}

// SeedInt seeds the state with init_genrand(s) of mt19937ar.c (numpy's
// mt19937_seed, used by RandomState(seed) for an integer seed).
func (r *MT) SeedInt(s uint32) {
	r.mt[0] = s
	for i := 1; i < n; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.mti = n
}

// SeedArray seeds the state with init_by_array(key) of mt19937ar.c (used
// by Python's random.seed for an integer). key must not be empty.
func (r *MT) SeedArray(key []uint32) {
	r.SeedInt(19650218)
	i, j := 1, 0
	k := max(n, len(key))
	for ; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= n {
			r.mt[0] = r.mt[n-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = n - 1; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= n {
			r.mt[0] = r.mt[n-1]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
	r.mti = n
}

// Uint32 returns the next 32-bit output (genrand_int32).
func (r *MT) Uint32() uint32 {
	if r.mti >= n {
		r.twist()
	}
	y := r.mt[r.mti]
	r.mti++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// twist regenerates the n words of state.
func (r *MT) twist() {
	mag := func(y uint32) uint32 { return (y & 1) * matrixA }
	var kk int
	for kk = 0; kk < n-m; kk++ {
		y := (r.mt[kk] & upperMask) | (r.mt[kk+1] & lowerMask)
		r.mt[kk] = r.mt[kk+m] ^ (y >> 1) ^ mag(y)
	}
	for ; kk < n-1; kk++ {
		y := (r.mt[kk] & upperMask) | (r.mt[kk+1] & lowerMask)
		r.mt[kk] = r.mt[kk+(m-n)] ^ (y >> 1) ^ mag(y)
	}
	y := (r.mt[n-1] & upperMask) | (r.mt[0] & lowerMask)
	r.mt[n-1] = r.mt[m-1] ^ (y >> 1) ^ mag(y)
	r.mti = 0
}
