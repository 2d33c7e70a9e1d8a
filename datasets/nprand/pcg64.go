package nprand

import "math/bits"

// pcgMultHi and pcgMultLo are PCG_DEFAULT_MULTIPLIER_128 (pcg64.h).
const (
	pcgMultHi = 2549297995355413924
	pcgMultLo = 4865540595714422341
)

// PCG64 is numpy's PCG64 bit generator: a 128-bit linear congruential
// generator with the XSL-RR output function, plus the one-word buffer
// numpy keeps so that two 32-bit draws share one 64-bit output. The zero
// value is not seeded; use NewPCG64.
type PCG64 struct {
	stateHi, stateLo uint64
	incHi, incLo     uint64
	hasUint32        bool
	uinteger         uint32
}

// NewPCG64 returns numpy's PCG64(seed): the state and increment are the
// four 64-bit words of SeedSequence(seed).generate_state(4, np.uint64),
// as (state high, state low, increment high, increment low).
func NewPCG64(seed uint64) *PCG64 {
	return NewPCG64FromSeedSequence(NewSeedSequence(seed))
}

// NewPCG64FromSeedSequence returns numpy's PCG64(ss).
func NewPCG64FromSeedSequence(ss SeedSequence) *PCG64 {
	v := ss.GenerateState64(4)
	p := &PCG64{}
	p.srandom(v[0], v[1], v[2], v[3])
	return p
}

// srandom is pcg_setseq_128_srandom_r with initstate = stateHi:stateLo and
// initseq = seqHi:seqLo: inc = initseq<<1 | 1; state = 0; step; state +=
// initstate; step.
func (p *PCG64) srandom(stateHi, stateLo, seqHi, seqLo uint64) {
	p.stateHi, p.stateLo = 0, 0
	p.incHi = seqHi<<1 | seqLo>>63
	p.incLo = seqLo<<1 | 1
	p.step()
	var c uint64
	p.stateLo, c = bits.Add64(p.stateLo, stateLo, 0)
	p.stateHi, _ = bits.Add64(p.stateHi, stateHi, c)
	p.step()
	p.hasUint32, p.uinteger = false, 0
}

// step advances the LCG: state = state*mult + inc (mod 2^128).
func (p *PCG64) step() {
	hi, lo := bits.Mul64(p.stateLo, pcgMultLo)
	hi += p.stateHi*pcgMultLo + p.stateLo*pcgMultHi
	var c uint64
	p.stateLo, c = bits.Add64(lo, p.incLo, 0)
	p.stateHi, _ = bits.Add64(hi, p.incHi, c)
}

// Uint64 returns the next 64-bit output (numpy's random_raw, pcg64_next64).
// It does not touch the 32-bit buffer.
func (p *PCG64) Uint64() uint64 {
	p.step()
	return bits.RotateLeft64(p.stateHi^p.stateLo, -int(p.stateHi>>58))
}

// Uint32 returns the next 32-bit output as numpy's pcg64_next32: the low
// half of a fresh 64-bit output, whose high half is kept and returned by
// the following call.
func (p *PCG64) Uint32() uint32 {
	if p.hasUint32 {
		p.hasUint32 = false
		return p.uinteger
	}
	next := p.Uint64()
	p.hasUint32 = true
	p.uinteger = uint32(next >> 32)
	return uint32(next)
}
