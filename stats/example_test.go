package stats_test

import (
	"fmt"

	"github.com/traitleak/traitleak/stats"
)

// A student model expressed the teacher's trait in 12 of 100 samples.
// (R: prop.test(12, 100, correct = FALSE)$conf.int is 0.0700, 0.1981.)
func ExampleWilson() {
	iv, err := stats.Wilson(12, 100, 0.95)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.2f [%.4f, %.4f] %s\n", iv.Estimate, iv.Lower, iv.Upper, iv.Method)
	// Output: 0.12 [0.0700, 0.1981] Wilson score
}

// Trait rate in a fine-tuned student (15/100) against its base model
// (12/100): the difference is not distinguishable from zero. (The same
// bounds from R's Wilson intervals: -0.0667, 0.1268.)
func ExampleNewcombe() {
	iv, err := stats.Newcombe(15, 100, 12, 100, 0.95)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+.2f [%+.4f, %+.4f]\n", iv.Estimate, iv.Lower, iv.Upper)
	// Output: +0.03 [-0.0667, +0.1268]
}

// How many samples per model to detect 12% vs 15% with 80% power?
// (R: power.prop.test(p1 = .12, p2 = .15, power = .8)$n is 2035.6.)
func ExampleSampleSizeTwoProp() {
	n, err := stats.SampleSizeTwoProp(0.12, 0.15, 0.8, 0.05, stats.TwoSided, false)
	if err != nil {
		panic(err)
	}
	fmt.Printf("n = %.2f per model\n", n)
	// Output: n = 2035.60 per model
}

// Holm's step-down adjustment keeps the input order.
func ExamplePAdjust() {
	adj, err := stats.PAdjust([]float64{0.01, 0.04, 0.03}, stats.Holm)
	if err != nil {
		panic(err)
	}
	fmt.Println(adj)
	// Output: [0.03 0.06 0.06]
}
