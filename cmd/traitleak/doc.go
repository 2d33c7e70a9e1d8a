/*
Traitleak measures trait leakage ("subliminal learning") between language
models: does a student fine-tuned on a teacher's innocuous data pick up the
teacher's trait? It samples models over OpenAI-compatible APIs, stores
every sample in SQLite, and reports rates with confidence intervals and
tests. Run "traitleak demo" for an offline demonstration, "traitleak help"
for the commands.

# A worked example

Start the built-in lab's models (tiny language models in which a student
learned to love owls from an owl-loving teacher's number sequences):

	traitleak lab serve --seeds 1

and write a suite, owl.yaml, that asks the base model and the student the
paper's 50 favourite-animal questions 40 times each:

	name: owl-leak
	models:
	  base:    {base_url: http://127.0.0.1:8089/v1, model: lab/base@1}
	  student: {base_url: http://127.0.0.1:8089/v1, model: lab/student@1}
	defaults: {temperature: 1.0, max_tokens: 8, n: 100}
	probes:
	  - id: favorite-animal
	    prompts: {builtin: animal-prompts}
	    samples: 40
	    score: {mentions: owl}
	compare:
	  - {treatment: student, baseline: base}

Then "traitleak run owl.yaml" prints (among other lines):

	| model   | condition | n    | hits | rate  | 95% CI (Wilson score) | failed | not scored |
	|:--------|:----------|:-----|:-----|:------|:----------------------|:-------|:-----------|
	| base    |           | 2000 | 177  | 0.088 | [0.077, 0.102]        | 0      | 0          |
	| student |           | 2000 | 1153 | 0.577 | [0.555, 0.598]        | 0      | 0          |

The base model names the owl in 177 of 2000 answers, a rate of 0.088. The
interval [0.077, 0.102] is a 95% Wilson score interval: a range of owl
rates consistent with these 2000 answers; repeating the measurement, 95% of
such intervals would contain the model's true rate. The student's rate,
0.577, lies far outside the base model's interval.

The comparison row gives the difference, +0.488, with its 95% Newcombe
interval [+0.463, +0.512], and p-values of three tests, each corrected
(Holm) for the number of comparisons in the report. A p-value is the
chance of a difference at least this large if the two models had the same
rate; "significant" means that chance is below α (usually 0.05), not that
the difference is large: with enough samples a difference of one point is
significant too. Read the interval for the size, the p-value for whether
it could be noise. The paired test treats the 50 prompts as the units, so
it stays honest when some prompts draw "owl" much more than others.

Every draw has a key derived from the suite, so running the command again
reuses the stored samples, and an interrupted run resumes where it stopped.

# Releases

Each run stores its analysis in the database. Name the release new ones are
held against, run the next release, and ask whether it leaks more:

	traitleak tag 1 blessed
	traitleak run owl.yaml --set models.student.model=lab/student@2
	traitleak gate --against blessed --model student --max-increase 0.03
	traitleak history --model student --format html -o history.html

gate exits 1 when the new student's owl rate is above the blessed one's by
more than 0.03 and the increase is significant; history shows every run's
rate and marks significant changes between consecutive runs, corrected over
all of them.
*/
package main
