package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
)

func newExportDatasetCmd() *cobra.Command {
	var db, dir string
	cmd := &cobra.Command{
		Use:   "export-dataset [DATASET]...",
		Short: "Write datasets' training JSONL and dataset cards, for any trainer",
		Long: `Export-dataset writes, for every filtered dataset of the results database
(or those named: a dataset name such as lab-owl-numbers/teacher@1, an
experiment name for all of its datasets, or a prefix of a dataset's
SHA-256), three files into -o DIR:

  NAME.jsonl      the training file: OpenAI chat fine-tuning JSON lines, one
                  {"messages": [user prompt, assistant answer]} per row, no
                  system prompt (the paper's format); its SHA-256 is the
                  dataset's hash
  NAME.card.md    the dataset card: rows generated, failed, rejected by
  NAME.card.json  reason, kept; numbers against the control teacher's with
                  a chi-square test; the leak scan; the hash

NAME is the dataset name with "/" and "@" replaced by "-". The README shows
ready commands to fine-tune an open-weight student on the JSONL (TRL) and
serve it with vLLM (--lora-modules).

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputDir("-o", dir, db); err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := openDB(ctx, db, false)
			if err != nil {
				return err
			}
			defer store.Close()
			all, err := store.Datasets(ctx)
			if err != nil {
				return err
			}
			var picked []results.Dataset
			for _, d := range all {
				if d.Status != results.DatasetFiltered {
					continue
				}
				if len(args) == 0 || matchesDataset(d, args) {
					picked = append(picked, d)
				}
			}
			if len(picked) == 0 {
				if len(args) == 0 {
					return usagef("no filtered dataset in %s (run traitleak experiment filter EXP first)", db)
				}
				return usagef("no filtered dataset in %s matches %s", db, strings.Join(args, " "))
			}
			var files []outFile
			out := cmd.OutOrStdout()
			for _, d := range picked {
				training, err := store.DatasetTraining(ctx, d.ID)
				if err != nil {
					return err
				}
				if sum := sha256.Sum256(training); hex.EncodeToString(sum[:]) != d.SHA256 {
					return fmt.Errorf("dataset %s: the stored training file does not match its SHA-256 %s", d.Name, d.SHA256)
				}
				var card datasets.Card
				if err := json.Unmarshal(d.Card, &card); err != nil {
					return fmt.Errorf("dataset %s: card: %w", d.Name, err)
				}
				base := strings.NewReplacer("/", "-", "@", "-").Replace(d.Name)
				files = append(files, outFile{base + ".jsonl", training}, outFile{base + ".card.md", []byte(card.Markdown())},
					outFile{base + ".card.json", append([]byte(nil), d.Card...)})
				fmt.Fprintf(out, "%s: %d rows, sha256 %s → %s\n", d.Name, d.Rows, d.SHA256, filepath.Join(dir, base+".jsonl"))
			}
			return writeOutputDir("-o", dir, files, db)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultDB, "results database `file`")
	cmd.Flags().StringVarP(&dir, "output", "o", ".", "directory to write the files into (created when missing)")
	return cmd
}

// matchesDataset reports whether d is named by one of args: its name,
// its experiment's name, or a prefix (8 hex digits or more) of its
// SHA-256.
func matchesDataset(d results.Dataset, args []string) bool {
	exp, _, _ := strings.Cut(d.Name, "/")
	for _, a := range args {
		if a == d.Name || a == exp || len(a) >= 8 && strings.HasPrefix(d.SHA256, strings.ToLower(a)) {
			return true
		}
	}
	return false
}
