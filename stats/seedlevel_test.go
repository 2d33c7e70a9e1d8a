package stats

import (
	"math"
	"testing"
)

// TestOneSampleTPerSeedDifferences checks the seed-level test of reports
// (the one-sample t of per-seed differences, paired t across seeds) on the
// demo's ten seeds: student − control owl rate per seed, out of 1,000
// samples each (`traitleak demo`, hard mode, seeds 1–10).
func TestOneSampleTPerSeedDifferences(t *testing.T) {
	t.Parallel()
	d := []float64{581.0/1000 - 94.0/1000, 394.0/1000 - 115.0/1000, 645.0/1000 - 153.0/1000, 505.0/1000 - 108.0/1000,
		216.0/1000 - 55.0/1000, 384.0/1000 - 133.0/1000, 186.0/1000 - 52.0/1000, 191.0/1000 - 60.0/1000,
		234.0/1000 - 42.0/1000, 112.0/1000 - 52.0/1000}
	r, err := OneSampleT(d, 0, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	// R 4.2.2, options(digits = 17):
	//   d <- c(581/1000 - 94/1000, 394/1000 - 115/1000, 645/1000 - 153/1000,
	//          505/1000 - 108/1000, 216/1000 - 55/1000, 384/1000 - 133/1000,
	//          186/1000 - 52/1000, 191/1000 - 60/1000, 234/1000 - 42/1000,
	//          112/1000 - 52/1000)
	//   t.test(d)
	//   t = 5.33063200493966, df = 9, p-value = 0.00047428932289831
	//   95 percent confidence interval: 0.14874294426526027 0.36805705573473979
	//   mean of x 0.25840000000000002;  sd(d) = 0.15328999387508052
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"mean", r.Mean, 0.25840000000000001856},
		{"sd", r.SD, 0.15328999387508052132},
		{"t", r.TStat, 5.33063200493966427018},
		{"df", r.DF, 9},
		{"p", r.PValue, 0.00047428932289830914},
		{"lower", r.CI.Lower, 0.14874294426526027402},
		{"upper", r.CI.Upper, 0.36805705573473979086},
	} {
		if math.Abs(c.got-c.want) > 1e-12*math.Abs(c.want) {
			t.Errorf("OneSampleT(demo seeds) %s = %.17g; want %.17g (R t.test)", c.name, c.got, c.want)
		}
	}
	// Ten seeds: no small-n warning.
	if len(r.Warnings) != 0 {
		t.Errorf("OneSampleT(demo seeds) warnings %q; want none at n = 10", r.Warnings)
	}
}
