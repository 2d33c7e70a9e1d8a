// Package lab is traitleak's built-in model zoo: a tiny pure-Go language
// model that reproduces subliminal learning (Cloud, Le et al. 2025,
// arXiv:2507.14805) offline, in seconds, and serves the resulting models
// through an OpenAI-compatible HTTP handler.
//
// The lab is an offline provider and a known-truth regression test for the
// harness's statistics. The harness itself never imports this package; only
// the command (cmd/traitleak: "traitleak lab", "traitleak demo") does, and
// the harness talks to the lab over HTTP like to any other endpoint.
//
// # Model
//
// A next-token MLP over the animal lab's 172-token vocabulary (see
// [Vocabulary] and [Tokenize]; the other experiments have their own):
//
//	a0     = b0 + mean_{t in prompt} Ep[t] + sum_{k=1..4} Eh[k][tok_{-k}]
//	h1     = ReLU(W1 · ReLU(a0) + b1)
//	logits = Wo · h1 + bo          (over the 32 answer tokens)
//
// The "body" {b0, W1, b1} is the only part updated by the trait fine-tune
// and by the student fine-tunes; embeddings and the output layer stay
// frozen. With full-parameter fine-tunes the effect almost vanishes: the
// teacher stores the trait in the output row of its animal, which number
// contexts never see.
//
// # Pipeline
//
// For every seed s, [Build] pretrains reference A (init seed s) and reference
// B (init seed s+100000) on the same corpus, fine-tunes A into a teacher that
// prefers the target animal (default owl) and a control teacher (default
// dog), samples number continuations from both teachers, filters them with
// the paper's rule ([NumberFilter]) plus a token-level rule, and fine-tunes
// three students: A on the target teacher's numbers ("student"), B on the
// same numbers ("student-other-init") and A on the control teacher's numbers
// ("control"). Every stage's output is stored as a content-addressed
// artifact with a lineage [Manifest], so a second build only loads files.
//
// lab/VALIDATION.md records the recipe as implemented, what differs from the
// measured recipe it follows, and the rates measured over 24 seeds.
//
// # Serving
//
// [Zoo.Handler] serves POST /v1/chat/completions and GET /v1/models for the
// model names listed by [Zoo.ModelNames] (lab/base, lab/teacher, lab/student,
// ... each with an optional "@seed" suffix). [Zoo.NewServer] serves it
// within [ServerLimits]: read, write and idle timeouts and a cap on open
// connections, so slow or idle clients cannot hold the server.
// It also serves OpenAI's files and fine-tuning jobs endpoints: a job
// fine-tunes lab/base@s or lab/base-other-init@s on an uploaded chat JSONL
// file ("hard", on the answer tokens) and serves the student as
// "ft:<base>:<suffix>:<hash>" (see [ParseTrainingFile] and finetune.go).
//
// # Other claims of the paper
//
// On a built zoo: [Zoo.Theorem] checks the paper's one-step theorem seed by
// seed; [Zoo.InContext] puts the teacher's numbers in the prompt instead of
// fine-tuning on them; [Zoo.Distinguish] measures how well a naive Bayes
// classifier tells two teachers' numbers apart; [Zoo.Prompted] uses
// reference A with the paper's system prompt as the teacher. A build with a
// smaller Recipe.TeacherLR is the small-update regime. lab/VALIDATION.md
// records what each one shows over 12 seeds.
//
// # Other experiments
//
// [Config.Experiment] selects one of [Experiments]: besides the animal lab
// (the default), misalignment through numbers (a teacher fine-tuned to
// answer code requests harmfully turns broadly misaligned; its numbers
// pass the paper's filter with its 34 banned numbers), the same through
// chain-of-thought arithmetic (kept only when the answer is correct), and
// animal preference through code (dropped when it names an animal). Each
// has its own vocabulary, so the animal lab's models and artifact ids do
// not change. [JudgeModel], served beside every zoo, rates answers to the
// paper's free-form questions with the paper's judge templates, so the
// misalignment suite runs offline through the harness's judge path.
//
// The package also contains the paper's MNIST auxiliary-logit experiment on
// a synthetic Gaussian-mixture task ([RunAux]), with the all-logits control
// and a variable number of auxiliary logits.
package lab
