package datasets

import (
	"fmt"

	"github.com/traitleak/traitleak/datasets/pyrand"
)

// Subsample returns the rows the paper keeps when a filtered dataset is
// larger than max: random.Random(seed).sample(rows, max), in the order
// the sample draws them (sort with SortCanonical for the canonical
// order). When len(rows) <= max every row is kept, in order, and nothing
// is drawn. The rows themselves are not copied deeply. max must be at
// least 1.
func Subsample[T any](rows []T, max int, seed int64) ([]T, error) {
	if max < 1 {
		return nil, fmt.Errorf("subsample: max rows %d is below 1", max)
	}
	if len(rows) <= max {
		return append([]T(nil), rows...), nil
	}
	idx, err := pyrand.New(seed).Sample(len(rows), max)
	if err != nil {
		return nil, fmt.Errorf("subsample: %w", err)
	}
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = rows[j]
	}
	return out, nil
}
