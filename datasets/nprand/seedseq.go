package nprand

// Constants of numpy's SeedSequence (bit_generator.pyx), after Melissa
// O'Neill's seed_seq_fe.
const (
	poolSize = 4
	initA    = 0x43b0d7e5
	multA    = 0x931e8875
	initB    = 0x8b51f9dd
	multB    = 0x58f38ded
	mixMultL = 0xca01f9dd
	mixMultR = 0x4973f715
	xshift   = 16
)

// SeedSequence is numpy's SeedSequence with no spawn key and the default
// pool size (4 words): it hashes seed entropy into a pool and expands the
// pool into as many state words as a bit generator needs. The zero value
// is the pool of an empty entropy list, which numpy never produces; build
// one with NewSeedSequence or SeedSequenceFromWords.
type SeedSequence struct {
	pool [poolSize]uint32
}

// NewSeedSequence returns numpy's SeedSequence(seed) for a non-negative
// integer seed: the seed is split into 32-bit words, least significant
// first (0 gives the single word 0).
func NewSeedSequence(seed uint64) SeedSequence {
	words := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		words = append(words, hi)
	}
	return SeedSequenceFromWords(words)
}

// SeedSequenceFromWords returns numpy's SeedSequence(entropy) for entropy
// given as an array of uint32 words (e.g. SeedSequence([1, 2, 3, 4])). An
// integer seed n corresponds to its 32-bit words, least significant first.
func SeedSequenceFromWords(entropy []uint32) SeedSequence {
	var s SeedSequence
	hashConst := uint32(initA)
	hashmix := func(v uint32) uint32 {
		v ^= hashConst
		hashConst *= multA
		v *= hashConst
		return v ^ v>>xshift
	}
	mix := func(x, y uint32) uint32 {
		r := mixMultL*x - mixMultR*y
		return r ^ r>>xshift
	}
	for i := range s.pool {
		if i < len(entropy) {
			s.pool[i] = hashmix(entropy[i])
		} else {
			s.pool[i] = hashmix(0)
		}
	}
	for src := range s.pool {
		for dst := range s.pool {
			if src != dst {
				s.pool[dst] = mix(s.pool[dst], hashmix(s.pool[src]))
			}
		}
	}
	for src := poolSize; src < len(entropy); src++ {
		for dst := range s.pool {
			s.pool[dst] = mix(s.pool[dst], hashmix(entropy[src]))
		}
	}
	return s
}

// GenerateState returns n uint32 words of state, as numpy's
// generate_state(n, np.uint32).
func (s SeedSequence) GenerateState(n int) []uint32 {
	out := make([]uint32, n)
	hashConst := uint32(initB)
	for i := range out {
		v := s.pool[i%poolSize]
		v ^= hashConst
		hashConst *= multB
		v *= hashConst
		out[i] = v ^ v>>xshift
	}
	return out
}

// GenerateState64 returns n uint64 words of state, as numpy's
// generate_state(n, np.uint64): 2n uint32 words paired little-endian.
func (s SeedSequence) GenerateState64(n int) []uint64 {
	w := s.GenerateState(2 * n)
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(w[2*i]) | uint64(w[2*i+1])<<32
	}
	return out
}
