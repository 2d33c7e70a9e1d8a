package suites

import (
	"fmt"
	"strconv"
)

// NumberFilterYAML returns the embedded copy of the paper's number-filter
// specification (data/number-filter.yaml: parse_response semantics, reject
// reasons and test vectors). Package lab's filter tests read their test
// vectors from it.
func NumberFilterYAML() ([]byte, error) {
	return data.ReadFile("data/number-filter.yaml")
}

// BannedNumbers returns the paper's 34 banned numbers (data/banned-numbers.txt:
// numbers with negative associations such as 666, 911 and 187, filtered out
// of the misalignment experiment's number sequences), ascending. The caller
// owns the returned slice.
func BannedNumbers() ([]int64, error) {
	b, err := data.ReadFile("data/banned-numbers.txt")
	if err != nil {
		return nil, fmt.Errorf("read built-in banned numbers: %w", err)
	}
	var out []int64
	for i, line := range splitLines(string(b)) {
		n, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("built-in banned numbers line %d: %w", i+1, err)
		}
		out = append(out, n)
	}
	return out, nil
}
