package lab

import (
	"fmt"
	"math"
)

// Distinguishability is how well a simple classifier tells one seed's two
// teachers apart from their filtered number sequences alone: a multinomial
// naive Bayes classifier over token n-grams (n = 1..NGram, with start and
// end markers, add-one smoothing), trained on half of each teacher's
// sequences and tested on the other half (equal counts per class, so
// chance is 0.5).
type Distinguishability struct {
	Seed  int `json:"seed"`
	NGram int `json:"ngram"`
	// Train and Test are the sequences per class in each half.
	Train int `json:"train"`
	Test  int `json:"test"`
	// Accuracy is the held-out accuracy in [0, 1].
	Accuracy float64 `json:"accuracy"`
	// MeanTV is the mean total-variation distance between the target
	// teacher's and reference A's next-token distributions on the target
	// teacher's sequences (NumbersDiagnostics.MeanTV).
	MeanTV float64 `json:"mean_tv"`
}

// Distinguish runs the classifier on every seed of z with n-grams up to
// ngram (1–5).
func (z *Zoo) Distinguish(ngram int) ([]Distinguishability, error) {
	if ngram < 1 || ngram > 5 {
		return nil, fmt.Errorf("lab distinguish: n-gram order %d out of range 1–5", ngram)
	}
	var out []Distinguishability
	for i, s := range z.Seeds() {
		nums := z.numbers[s]
		r, err := distinguish(nums.teacher, nums.control, ngram)
		if err != nil {
			return nil, fmt.Errorf("lab distinguish: seed %d: %w", s, err)
		}
		r.Seed = s
		r.MeanTV = z.diag.Seeds[i].Teacher.MeanTV
		out = append(out, r)
	}
	return out, nil
}

// distinguish trains and tests the classifier on a (class 0) and b (class
// 1). Both lists are in sampling order, so alternate elements are a random
// split.
func distinguish(a, b []sequence, ngram int) (Distinguishability, error) {
	n := min(len(a), len(b))
	if n < 4 {
		return Distinguishability{}, fmt.Errorf("%d and %d sequences; need at least 4 of each", len(a), len(b))
	}
	var train, test [2][]sequence
	for c, seqs := range [2][]sequence{a[:n], b[:n]} {
		for i, s := range seqs {
			if i%2 == 0 {
				train[c] = append(train[c], s)
			} else {
				test[c] = append(test[c], s)
			}
		}
	}
	nb := newNaiveBayes(ngram)
	for c := range train {
		for _, s := range train[c] {
			nb.add(c, s.Completion)
		}
	}
	hit, total := 0, 0
	for c := range test {
		for _, s := range test[c] {
			if nb.classify(s.Completion) == c {
				hit++
			}
			total++
		}
	}
	return Distinguishability{NGram: ngram, Train: len(train[0]), Test: len(test[0]), Accuracy: float64(hit) / float64(total)}, nil
}

// naiveBayes is a two-class multinomial naive Bayes over token n-grams.
type naiveBayes struct {
	ngram  int
	counts [2]map[string]int
	totals [2]int
	docs   [2]int
	vocab  map[string]bool
}

func newNaiveBayes(ngram int) *naiveBayes {
	return &naiveBayes{ngram: ngram, counts: [2]map[string]int{{}, {}}, vocab: map[string]bool{}}
}

// grams returns the n-grams (n = 1..ngram) of toks with start and end
// markers, as strings of token ids.
func (nb *naiveBayes) grams(toks []int32) []string {
	seq := make([]int32, 0, len(toks)+2)
	seq = append(seq, -1)
	seq = append(seq, toks...)
	seq = append(seq, -2)
	var out []string
	for n := 1; n <= nb.ngram; n++ {
		for i := 0; i+n <= len(seq); i++ {
			out = append(out, fmt.Sprint(seq[i:i+n]))
		}
	}
	return out
}

func (nb *naiveBayes) add(c int, toks []int32) {
	nb.docs[c]++
	for _, g := range nb.grams(toks) {
		nb.counts[c][g]++
		nb.totals[c]++
		nb.vocab[g] = true
	}
}

// classify returns the class with the larger posterior (ties: class 0).
func (nb *naiveBayes) classify(toks []int32) int {
	v := float64(len(nb.vocab))
	var score [2]float64
	for c := range score {
		score[c] = math.Log(float64(nb.docs[c]) / float64(nb.docs[0]+nb.docs[1]))
		denom := math.Log(float64(nb.totals[c]) + v)
		for _, g := range nb.grams(toks) {
			score[c] += math.Log(float64(nb.counts[c][g])+1) - denom
		}
	}
	if score[1] > score[0] {
		return 1
	}
	return 0
}
