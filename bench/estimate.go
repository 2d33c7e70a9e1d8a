package bench

// EstimatePromptTokens estimates a request's prompt tokens before it is
// sent, without a tokenizer: the bytes of its messages' text divided by 4
// (about 4 characters a token for English with OpenAI's tokenizers), plus
// one. Servers count exactly; this is for budgets and dry runs.
func EstimatePromptTokens(req Request) int {
	chars := 0
	for _, m := range req.Messages {
		chars += len(m.Content)
	}
	return chars/4 + 1
}

// DefaultMaxTokensEstimate is the completion length assumed per choice
// when a request sets no max_tokens.
const DefaultMaxTokensEstimate = 256

// EstimateCompletionTokens bounds a request's completion tokens: its
// max_tokens (DefaultMaxTokensEstimate when unset) for each choice.
func EstimateCompletionTokens(req Request) int {
	perChoice := DefaultMaxTokensEstimate
	if req.MaxTokens != nil {
		perChoice = *req.MaxTokens
	}
	return perChoice * max(1, req.N)
}

// tokenEstimate sums the estimated tokens of requests (a batch file's):
// EstimatePromptTokens and EstimateCompletionTokens.
type tokenEstimate struct{ prompt, completion int64 }

func (e *tokenEstimate) add(req Request) {
	e.prompt += int64(EstimatePromptTokens(req))
	e.completion += int64(EstimateCompletionTokens(req))
}
