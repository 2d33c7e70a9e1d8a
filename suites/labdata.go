package suites

// NumberFilterYAML returns the embedded copy of the paper's number-filter
// specification (data/number-filter.yaml: parse_response semantics, reject
// reasons and test vectors). Package lab's tests check their copy of the
// test vectors against it.
func NumberFilterYAML() ([]byte, error) {
	return data.ReadFile("data/number-filter.yaml")
}
