// Package nprand ports the parts of numpy's random module that the
// subliminal-learning paper's data generators draw from, bit for bit, so
// that their prompt sets and control datasets can be rebuilt without
// Python:
//
//   - SeedSequence (numpy/random/bit_generator.pyx: hashmix, mix,
//     mix_entropy, generate_state), the seeding of np.random.default_rng;
//   - PCG64 (numpy/random/_pcg64.pyx, numpy/random/src/pcg64/pcg64.h: the
//     128-bit LCG with XSL-RR output, and pcg64_next32's buffering of the
//     upper half of a 64-bit draw);
//   - Generator.integers and Generator.choice for a uniform draw from a list
//     (numpy/random/_generator.pyx, numpy/random/_bounded_integers.pyx.in,
//     numpy/random/src/distributions/distributions.c:
//     random_bounded_uint64_fill, buffered_bounded_lemire_uint32,
//     bounded_lemire_uint64), as numpy ≥ 1.17 with the default dtype int64;
//   - RandomState (numpy/random/mtrand.pyx, numpy/random/_mt19937.pyx
//     _legacy_seeding) with randint, whose bounded integers use the masked
//     rejection method (buffered_bounded_masked_uint32 and
//     bounded_masked_uint64 in distributions.c).
//
// np.random.default_rng(seed) is NewGenerator(seed); the paper's number
// prompts come from default_rng(47) and its programmatic control dataset
// from RandomState(42). Only integer seeds are supported. Nothing here is
// safe for concurrent use: give each goroutine its own generator.
package nprand
