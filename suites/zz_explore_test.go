package suites

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestZZExplore(t *testing.T) {
	b, _ := os.ReadFile("/tmp/explore/cases.txt")
	for _, c := range strings.Split(string(b), "\n====\n") {
		parts := strings.SplitN(c, "\n++++\n", 2)
		var sets []string
		if len(parts) == 2 {
			sets = strings.Split(strings.TrimSpace(parts[1]), "\n")
		}
		var s *Suite
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("PANIC in Parse: %v", r)
				}
			}()
			s, err = Parse("t.yaml", []byte(parts[0]), "", sets)
		}()
		var se *SuiteError
		if errors.As(err, &se) {
			fmt.Printf("%q\n   -> %#v\n", parts[0], *se)
		} else if err != nil {
			fmt.Printf("%q\n   -> NON-SUITE %T %v\n", parts[0], err, err)
		} else {
			h := func() (h string) {
				defer func() {
					if r := recover(); r != nil {
						h = fmt.Sprint("PANIC in Hash: ", r)
					}
				}()
				return s.Hash()[:8]
			}()
			fmt.Printf("%q\n   -> OK %d instances hash %s\n", parts[0], len(s.Instances()), h)
			if os.Getenv("DETAIL") != "" {
				for _, in := range s.Instances() {
					fmt.Printf("      %s %s %s\n", in.Name(), in.Model, in.BaseURL)
				}
				fmt.Printf("      desc=%q\n", s.Description)
				for _, p := range s.Probes {
					fmt.Printf("      probe %s desc=%q samples=%d texts=%q targets=%q\n", p.ID, p.Description, p.Samples, p.Prompts.Texts, p.Score.Targets())
				}
			}
		}
	}
}
