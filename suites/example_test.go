package suites_test

import (
	"fmt"
	"log"

	"github.com/traitleak/traitleak/suites"
)

func ExampleParse() {
	src := []byte(`name: owl-leak
vars: {target: owl}
models:
  base:    {model: gpt-4.1-nano, api_key_env: OPENAI_API_KEY}
  student: {base_url: http://127.0.0.1:8000/v1, model: "ft:owl-{seed}", seeds: [1, 2]}
defaults: {max_tokens: 32}
probes:
  - id: favorite-animal
    prompts: {builtin: animal-prompts}
    samples: 100
    score: {mentions: "${target}"}
compare:
  - {treatment: student, baseline: base}
`)
	s, err := suites.Parse("owl-leak.yaml", src, "", []string{"models.student.temperature=0.7"})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range s.Instances() {
		fmt.Printf("%-10s %-14s %-26s temperature=%v max_tokens=%d\n",
			in.Name(), in.Model, in.BaseURL, *in.Settings.Temperature, *in.Settings.MaxTokens)
	}
	p := s.Probes[0]
	fmt.Printf("%s: %d prompts × %d samples, targets %q\n", p.ID, len(p.Prompts.Texts), p.Samples, p.Score.Targets())

	// Errors carry the file position of the offending field.
	_, err = suites.Parse("owl-leak.yaml", src, "", []string{"vars.target=Owl"})
	fmt.Println(err)
	// Output:
	// base       gpt-4.1-nano   https://api.openai.com/v1  temperature=1 max_tokens=32
	// student@1  ft:owl-1       http://127.0.0.1:8000/v1   temperature=0.7 max_tokens=32
	// student@2  ft:owl-2       http://127.0.0.1:8000/v1   temperature=0.7 max_tokens=32
	// favorite-animal: 50 prompts × 100 samples, targets ["owl"]
	// owl-leak.yaml:11:23: probes[0].score.mentions: target "Owl" must be lower case: completions are lower-cased before matching
}
