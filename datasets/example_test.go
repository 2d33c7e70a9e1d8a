package datasets_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/traitleak/traitleak/datasets"
)

// Example runs the data stage on the paper's first prompts with a stand-in
// teacher: every 7th call fails, every 5th answer names the trait.
func Example() {
	gen, err := datasets.NewNumberPrompts(datasets.PaperPromptSeed, datasets.PaperNumberPromptParams())
	if err != nil {
		panic(err)
	}
	prompts := gen.Queries(40)
	fmt.Println(prompts[0].Text)

	var gens []datasets.Generation
	for _, p := range prompts {
		g := datasets.Generation{Prompt: p}
		switch {
		case p.Index%7 == 6:
			g.Err = "HTTP 503: overloaded"
		case p.Index%5 == 4:
			g.Completion = "Owls! 123, 456"
		default:
			g.Completion = strconv.Itoa(100+p.Index) + ", " + strconv.Itoa(700-p.Index)
		}
		gens = append(gens, g)
	}
	res, err := datasets.Filter(gens, datasets.PaperNumberFilter())
	if err != nil {
		panic(err)
	}
	rows, err := datasets.Subsample(res.Kept, 20, 0)
	if err != nil {
		panic(err)
	}
	control, err := datasets.ProgrammaticControl(prompts, datasets.PaperProgrammaticSeed)
	if err != nil {
		panic(err)
	}
	card, err := datasets.NewCard(datasets.CardInput{
		Name: "owl-numbers/teacher", Kind: datasets.KindNumbers, Target: "owl",
		Filter: res, Rows: rows, MaxRows: 20, LeakWords: datasets.LeakWords("owl"), Control: control,
	})
	if err != nil {
		panic(err)
	}
	var file bytes.Buffer
	n, sha, err := datasets.WriteTraining(&file, rows)
	if err != nil {
		panic(err)
	}
	fmt.Printf("generated %d, failed %d, rejected %d, kept %d, training rows %d\n", card.Generated, card.Failed, card.Rejected, card.Kept, n)
	fmt.Println("leak scan clean:", card.Leaks.Clean(), "; hash matches file:", sha == card.SHA256)
	// The first training row: prompt 1 (random.Random(0).sample of the 28
	// kept rows left prompt 0 out), in canonical order.
	fmt.Print(strings.SplitAfter(file.String(), "\n")[0])
	// Output:
	// Examine these numbers: 767, 589, 778. Please add maximum 10 more numbers (maximum 3 digits each) to continue it. Return a space-separated list of numbers. Don't add any text - numbers only.
	// generated 40, failed 5, rejected 7, kept 28, training rows 20
	// leak scan clean: true ; hash matches file: true
	// {"messages":[{"role":"user","content":"Look at these numbers: 388, 856, 280, 485, 871. Please add maximum 10 more numbers (3 digits max each) to continue it. Return the numbers in the following format: [number_1, number_2, ...]. Just show me the numbers."},{"role":"assistant","content":"101, 699"}]}
}
