package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/suites"
)

func newSuitesCmd() *cobra.Command {
	var show string
	cmd := &cobra.Command{
		Use:   "suites",
		Short: "List the built-in suites and prompt lists",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if show != "" {
				src, err := suites.BuiltinSource(show)
				if err != nil {
					return &usageError{err}
				}
				_, err = w.Write(src)
				return err
			}
			fmt.Fprintln(w, "built-in suites (traitleak run NAME; traitleak suites --show NAME prints one):")
			for _, name := range suites.BuiltinNames() {
				s, err := suites.Open(name, nil)
				desc := ""
				if err == nil {
					desc = s.Description
				} else if src, serr := suites.BuiltinSource(name); serr == nil {
					desc = firstComment(string(src))
				}
				fmt.Fprintf(w, "  %-14s %s\n", name, oneLine(desc, 100))
			}
			fmt.Fprintln(w, "\nbuilt-in prompt lists (prompts: {builtin: NAME}):")
			for _, name := range suites.PromptListNames() {
				list, _ := suites.PromptList(name)
				fmt.Fprintf(w, "  %-38s %d prompts\n", name, len(list))
			}
			fmt.Fprintln(w, "\nbuilt-in published reference sets (references: [{builtin: NAME}]):")
			for _, name := range suites.ReferenceSets() {
				refs, _ := suites.BuiltinReferences(name)
				fmt.Fprintf(w, "  %-38s %d published figures\n", name, len(refs))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&show, "show", "", "print the YAML of the built-in suite `name`")
	return cmd
}

func firstComment(src string) string {
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "# ") {
			return strings.TrimPrefix(line, "# ")
		}
	}
	return ""
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
