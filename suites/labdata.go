package suites

// NumberFilterYAML returns the embedded copy of the paper's number-filter
// specification (data/number-filter.yaml: parse_response semantics, reject
// reasons and test vectors). Package lab's filter tests read their test
// vectors from it.
func NumberFilterYAML() ([]byte, error) {
	return data.ReadFile("data/number-filter.yaml")
}
