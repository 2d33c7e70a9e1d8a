package stats

import (
	"math"
	"testing"
)

// FuzzWilson: for every 0 <= k <= n and confidence level, the Wilson
// interval (with and without continuity correction) satisfies
// 0 <= lo <= p̂ <= hi <= 1; invalid inputs give an error, never a panic.
func FuzzWilson(f *testing.F) {
	f.Add(0, 1, 0.95)
	f.Add(3, 10, 0.9)
	f.Add(1000000, 1000000, 0.99)
	f.Add(-1, 5, 0.95)
	f.Add(7, 5, 0.5)
	f.Add(1, 2, 1e-300)
	f.Fuzz(func(t *testing.T, k, n int, conf float64) {
		for _, fn := range []func(int, int, float64) (Interval, error){Wilson, WilsonCC} {
			iv, err := fn(k, n, conf)
			valid := n >= 1 && k >= 0 && k <= n && conf > 0 && conf < 1
			if !valid {
				if err == nil {
					t.Fatalf("k=%d n=%d conf=%v: no error", k, n, conf)
				}
				continue
			}
			if err != nil {
				t.Fatalf("k=%d n=%d conf=%v: %v", k, n, conf, err)
			}
			p := float64(k) / float64(n)
			if !(0 <= iv.Lower && iv.Lower <= p && p <= iv.Upper && iv.Upper <= 1) {
				t.Fatalf("%s k=%d n=%d conf=%v: [%v, %v] does not bracket %v inside [0,1]", iv.Method, k, n, conf, iv.Lower, iv.Upper, p)
			}
		}
	})
}

// FuzzTwoByTwo: Fisher, Newcombe, Wald, z, chi-square, odds and risk
// ratios never panic; valid tables give ordered intervals and p-values in
// [0, 1] (or NaN where documented). Counts are folded to keep Fisher's
// support small enough for a fuzz loop.
func FuzzTwoByTwo(f *testing.F) {
	f.Add(0, 10, 0, 10, 0.95)
	f.Add(10, 10, 0, 10, 0.95)
	f.Add(56, 70, 48, 80, 0.9)
	f.Add(-3, 0, 5, 2, 2.0)
	f.Add(1, 1, 0, 1, 0.999999)
	f.Fuzz(func(t *testing.T, x1, n1, x2, n2 int, conf float64) {
		if n1 > 3000 || n2 > 3000 || n1 < -5 || n2 < -5 {
			n1, n2 = n1%3000, n2%3000
		}
		valid := n1 >= 1 && n2 >= 1 && x1 >= 0 && x2 >= 0 && x1 <= n1 && x2 <= n2
		validConf := valid && conf > 0 && conf < 1
		check := func(name string, err error, ok bool) {
			if ok && err != nil {
				t.Fatalf("%s(%d,%d,%d,%d,%v): %v", name, x1, n1, x2, n2, conf, err)
			}
			if !ok && err == nil {
				t.Fatalf("%s(%d,%d,%d,%d,%v): no error", name, x1, n1, x2, n2, conf)
			}
		}
		fr, err := FisherExact(x1, n1, x2, n2, conf)
		check("FisherExact", err, validConf)
		if err == nil {
			if !(fr.PValue >= 0 && fr.PValue <= 1) || !(fr.OddsRatio.Lower <= fr.OddsRatio.Upper) {
				t.Fatalf("Fisher %d/%d %d/%d: %+v", x1, n1, x2, n2, fr)
			}
			if e := fr.OddsRatio.Estimate; !math.IsNaN(e) && !(fr.OddsRatio.Lower <= e && e <= fr.OddsRatio.Upper) {
				t.Fatalf("Fisher %d/%d %d/%d: estimate outside interval %+v", x1, n1, x2, n2, fr.OddsRatio)
			}
		}
		nc, err := Newcombe(x1, n1, x2, n2, conf)
		check("Newcombe", err, validConf)
		if err == nil && !(-1 <= nc.Lower && nc.Lower <= nc.Estimate && nc.Estimate <= nc.Upper && nc.Upper <= 1) {
			t.Fatalf("Newcombe %d/%d %d/%d: %+v", x1, n1, x2, n2, nc.Interval)
		}
		wd, err := WaldDiff(x1, n1, x2, n2, conf)
		check("WaldDiff", err, validConf)
		if err == nil && !(-1 <= wd.Lower && wd.Lower <= wd.Upper && wd.Upper <= 1) {
			t.Fatalf("Wald %d/%d %d/%d: %+v", x1, n1, x2, n2, wd)
		}
		_, err = TwoPropZTest(x1, n1, x2, n2)
		check("TwoPropZTest", err, valid)
		for _, y := range []bool{false, true} {
			cs, err := ChiSq2x2(x1, n1, x2, n2, y)
			check("ChiSq2x2", err, valid)
			if err == nil && !math.IsNaN(cs.PValue) && !(cs.PValue >= 0 && cs.PValue <= 1) {
				t.Fatalf("chisq %+v", cs)
			}
		}
		or, err := OddsRatio(x1, n1, x2, n2, conf)
		check("OddsRatio", err, validConf)
		if err == nil && !(or.Woolf.Lower <= or.Woolf.Upper) {
			t.Fatalf("OR %+v", or)
		}
		rr, err := RiskRatio(x1, n1, x2, n2, conf)
		check("RiskRatio", err, validConf)
		if err == nil && !(rr.Katz.Lower <= rr.Katz.Upper) {
			t.Fatalf("RR %+v", rr)
		}
	})
}
