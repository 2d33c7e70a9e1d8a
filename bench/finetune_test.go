package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// trainingFile returns a chat fine-tuning file of n rows and its SHA-256.
func trainingFile(n int) ([]byte, string) {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"messages":[{"role":"user","content":"continue: %d, %d"},{"role":"assistant","content":"%d, %d, %d"}]}`+"\n", i, i+1, i+2, i+3, i+4)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return []byte(b.String()), hex.EncodeToString(sum[:])
}

// memTuner returns a FineTuner talking to fake in memory (for synctest).
func memTuner(t *testing.T, fake *benchtest.FineTune) *FineTuner {
	t.Helper()
	ft, err := NewFineTuner(FineTuneConfig{
		BaseURL: benchtest.MemoryBaseURL, APIKey: "sk-test",
		HTTPClient: &http.Client{Transport: fake.Transport()},
		Retry:      RetryPolicy{MaxRetries: 3, MaxElapsed: time.Hour, BaseDelay: time.Second, MaxDelay: 4 * time.Second},
		Poll:       PollPolicy{Interval: 10 * time.Second, MaxInterval: time.Minute, MaxWait: 6 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ft
}

func seed(s int64) *int64 { return &s }

// recorder keeps the records FineTune saves, optionally failing the n-th
// save (a crash at that point).
type recorder struct {
	saved  []FineTuneRecord
	failAt int // 1-based save to fail; 0 never
}

func (r *recorder) save(rec FineTuneRecord) error {
	if len(r.saved)+1 == r.failAt {
		r.failAt = 0
		return errors.New("simulated crash")
	}
	r.saved = append(r.saved, rec)
	return nil
}

func (r *recorder) last() FineTuneRecord {
	if len(r.saved) == 0 {
		return FineTuneRecord{}
	}
	return r.saved[len(r.saved)-1]
}

func TestFineTuneSucceeds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"gpt-4.1-nano"}})
		ft := memTuner(t, fake)
		data, sha := trainingFile(12)
		spec := FineTuneSpec{DatasetSHA256: sha, BaseModel: "gpt-4.1-nano", Seed: seed(7), Hyperparameters: Hyperparameters{Epochs: 3}, Suffix: "owl-numbers"}
		var rec recorder
		var statuses []JobStatus
		var events []string
		job, err := ft.FineTune(context.Background(), spec, data, FineTuneRecord{}, rec.save, WaitOptions{
			OnStatus: func(j FineTuneJob) { statuses = append(statuses, j.Status) },
			OnEvent:  func(e JobEvent) { events = append(events, e.Message) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if job.Status != JobSucceeded || !strings.HasPrefix(job.FineTunedModel, "ft:gpt-4.1-nano:") || job.Seed == nil || *job.Seed != 7 || job.Suffix != "owl-numbers" {
			t.Errorf("job = %+v; want succeeded with a fine-tuned model, seed 7, suffix owl-numbers", job)
		}
		// The fake resolves "auto" fields when the job ends: epochs stays 3, batch size becomes 1.
		if job.Hyperparameters != (Hyperparameters{Epochs: 3, BatchSize: 1, LearningRateMultiplier: 2}) {
			t.Errorf("hyperparameters = %+v; want {3 1 2}", job.Hyperparameters)
		}
		if fake.Uploads() != 1 || fake.JobsCreated() != 1 {
			t.Errorf("uploads %d, jobs %d; want 1 and 1", fake.Uploads(), fake.JobsCreated())
		}
		if len(rec.saved) != 2 || rec.saved[0].JobID != "" || rec.saved[1].FileID == "" || rec.saved[1].JobID != job.ID {
			t.Errorf("saved records %+v; want the file id, then the file and job ids", rec.saved)
		}
		// One status per change: queued, running, succeeded (the fake's three steps).
		if want := []JobStatus{JobQueued, JobRunning, JobSucceeded}; fmt.Sprint(statuses) != fmt.Sprint(want) {
			t.Errorf("statuses %v; want %v", statuses, want)
		}
		if len(events) == 0 || events[0] != "Created fine-tuning job: "+job.ID || events[len(events)-1] != "The job has successfully completed" {
			t.Errorf("events %q; want creation first and completion last", events)
		}
		// What was sent: seed and metadata (which go-openai cannot express),
		// only the hyperparameter that was set, the key on every request.
		creates := fake.RouteRequests("create")
		if len(creates) != 1 {
			t.Fatalf("%d create requests; want 1", len(creates))
		}
		var body map[string]any
		if err := json.Unmarshal(creates[0].Body, &body); err != nil {
			t.Fatal(err)
		}
		hp, _ := body["hyperparameters"].(map[string]any)
		meta, _ := body["metadata"].(map[string]any)
		if body["seed"] != 7.0 || meta[MetaKey] != spec.Key() || meta[MetaDataset] != sha || len(hp) != 1 || hp["n_epochs"] != 3.0 || body["suffix"] != "owl-numbers" {
			t.Errorf("create body %s; want seed 7, metadata key and dataset, n_epochs 3 only, suffix", creates[0].Body)
		}
		for _, r := range fake.Requests() {
			if r.Auth != "Bearer sk-test" {
				t.Errorf("%s %s sent Authorization %q", r.Method, r.Path, r.Auth)
			}
		}
	})
}

func TestFineTuneAutoHyperparametersNotSent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}})
		ft := memTuner(t, fake)
		data, sha := trainingFile(10)
		file, err := ft.EnsureFile(context.Background(), data, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ft.EnsureJob(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: "m"}, file.ID, ""); err != nil {
			t.Fatal(err)
		}
		body := string(fake.RouteRequests("create")[0].Body)
		// All-auto hyperparameters and no seed: neither key is sent, and go-openai's
		// omitempty never turns "auto" into an explicit 0.
		if strings.Contains(body, "hyperparameters") || strings.Contains(body, `"seed"`) {
			t.Errorf("create body %s; want no hyperparameters and no seed", body)
		}
	})
}

// TestFineTuneResume simulates a crash (or kill -9) at every point of the
// upload → create → poll chain: a new FineTuner with what was saved
// resumes, and the fake counts exactly one upload and one job.
func TestFineTuneResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		failAt int    // which save crashes (1: file id, 2: job id); 0: none
		stopAt string // status at which the first run is interrupted; "" none
		faults []benchtest.FineTuneFault
	}{
		// Saving the file id fails: the next run finds the upload by its content-derived name.
		{name: "crash after upload, before its id is saved", failAt: 1},
		// Saving the job id fails: the next run finds the job by its metadata key.
		{name: "crash after create, before its id is saved", failAt: 2},
		// Interrupted while polling: the next run polls the recorded job.
		{name: "killed while polling", stopAt: string(JobQueued)},
		// The create reply is lost after the job was stored: the retry lists first.
		{name: "create reply lost", faults: []benchtest.FineTuneFault{{Route: "create", Count: 1, Kind: "lost"}}},
		// The upload reply is lost after the file was stored: the retry lists first.
		{name: "upload reply lost", faults: []benchtest.FineTuneFault{{Route: "upload", Count: 1, Kind: "lost"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Faults: tc.faults})
				data, sha := trainingFile(20)
				spec := FineTuneSpec{DatasetSHA256: sha, BaseModel: "m", Seed: seed(1), Suffix: "resume"}
				rec := &recorder{failAt: tc.failAt}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				opts := WaitOptions{OnStatus: func(j FineTuneJob) {
					if string(j.Status) == tc.stopAt {
						cancel()
					}
				}}
				job, err := memTuner(t, fake).FineTune(ctx, spec, data, FineTuneRecord{}, rec.save, opts)
				if tc.failAt == 0 && tc.stopAt == "" {
					if err != nil || job.Status != JobSucceeded {
						t.Fatalf("first run: %v, %v; want success", job.Status, err)
					}
				} else if err == nil {
					t.Fatalf("first run succeeded; want the simulated crash")
				}
				// A new process: a new FineTuner, only the saved record.
				job, err = memTuner(t, fake).FineTune(context.Background(), spec, data, rec.last(), rec.save, WaitOptions{})
				if err != nil || job.Status != JobSucceeded || job.FineTunedModel == "" {
					t.Fatalf("resumed run: %+v, %v; want success", job, err)
				}
				if fake.Uploads() != 1 || fake.JobsCreated() != 1 {
					t.Errorf("uploads %d, jobs created %d; want 1 and 1", fake.Uploads(), fake.JobsCreated())
				}
				if got := rec.last(); got.JobID != job.ID || got.FileID == "" {
					t.Errorf("last saved record %+v; want the job %s", got, job.ID)
				}
			})
		})
	}
}

func TestFineTuneRecordedFileGone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}})
		data, _ := trainingFile(10)
		// A recorded file the provider no longer has (404) is uploaded again.
		file, err := memTuner(t, fake).EnsureFile(context.Background(), data, "file-deleted")
		if err != nil || !file.Uploaded || fake.Uploads() != 1 {
			t.Fatalf("EnsureFile = %+v, %v with %d uploads; want one new upload", file, err, fake.Uploads())
		}
		// The recorded file that exists is reused without listing or uploading.
		again, err := memTuner(t, fake).EnsureFile(context.Background(), data, file.ID)
		if err != nil || again.ID != file.ID || again.Uploaded || fake.Uploads() != 1 || len(fake.RouteRequests("files")) != 1 {
			t.Fatalf("EnsureFile(recorded) = %+v, %v; want the same file, no new upload or listing", again, err)
		}
	})
}

func TestFineTuneRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// The first poll is rate limited for 30 s, longer than the 10 s interval;
		// the first create gets a 503 with Retry-After 20 s.
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Faults: []benchtest.FineTuneFault{
			{Route: "retrieve", Count: 1, Kind: "429", RetryAfter: "30"},
			{Route: "create", Count: 1, Kind: "503", RetryAfter: "20"},
		}})
		data, sha := trainingFile(10)
		var rec recorder
		job, err := memTuner(t, fake).FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: "m"}, data, FineTuneRecord{}, rec.save, WaitOptions{})
		if err != nil || job.Status != JobSucceeded {
			t.Fatalf("FineTune: %v, %v", job.Status, err)
		}
		creates := fake.RouteRequests("create")
		if len(creates) != 2 || creates[1].Time.Sub(creates[0].Time) < 20*time.Second || fake.JobsCreated() != 1 {
			t.Errorf("%d creates (%d jobs), %v apart; want 2 creates at least 20 s apart, 1 job", len(creates), fake.JobsCreated(), gap(creates))
		}
		polls := fake.RouteRequests("retrieve")
		if len(polls) < 2 || polls[1].Time.Sub(polls[0].Time) != 30*time.Second {
			t.Errorf("polls %v apart; want the second 30 s after the first (Retry-After beats the 10 s interval)", gap(polls))
		}
	})
}

func gap(rs []benchtest.FineTuneRequest) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(rs); i++ {
		out = append(out, rs[i].Time.Sub(rs[i-1].Time))
	}
	return out
}

func TestFineTunePollIntervalsGrow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Steps: 8})
		data, sha := trainingFile(10)
		var rec recorder
		if _, err := memTuner(t, fake).FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: "m"}, data, FineTuneRecord{}, rec.save, WaitOptions{}); err != nil {
			t.Fatal(err)
		}
		// Status changes (queued at poll 1, running at poll 2) restart at 10 s;
		// afterwards each unchanged poll waits 1.5× longer: 15 s, 22.5 s, 33.75 s,
		// 50.625 s, then the 60 s cap.
		want := []time.Duration{10 * time.Second, 10 * time.Second, 15 * time.Second, 22500 * time.Millisecond, 33750 * time.Millisecond, 50625 * time.Millisecond, time.Minute}
		if got := gap(fake.RouteRequests("retrieve")); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("poll gaps %v; want %v", got, want)
		}
	})
}

func TestFineTunePollGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Faults: []benchtest.FineTuneFault{{Route: "retrieve", Count: 1000, Kind: "500"}}})
		ft := memTuner(t, fake)
		data, sha := trainingFile(10)
		var rec recorder
		_, err := ft.FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: "m"}, data, FineTuneRecord{}, rec.save, WaitOptions{})
		var re *RetryError
		// MaxRetries is 3: four polls in a row fail, then Wait gives up.
		if !errors.As(err, &re) || re.Attempts != 4 || len(fake.RouteRequests("retrieve")) != 4 {
			t.Fatalf("err %v after %d polls; want a RetryError after 4", err, len(fake.RouteRequests("retrieve")))
		}
	})
}

func TestFineTuneMaxWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Steps: 1 << 20})
		ft := memTuner(t, fake)
		ft.poll.MaxWait = 10 * time.Minute
		data, sha := trainingFile(10)
		var rec recorder
		start := time.Now()
		job, err := ft.FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: "m"}, data, FineTuneRecord{}, rec.save, WaitOptions{})
		if err == nil || !strings.Contains(err.Error(), "still running") || time.Since(start) > 10*time.Minute || job.Status != JobRunning {
			t.Fatalf("after %v: %v, %v; want to stop within 10 min with the job still running", time.Since(start), job.Status, err)
		}
	})
}

func TestFineTuneFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		rows     int
		model    string
		outcome  benchtest.FakeOutcome
		is       error
		status   int    // HTTP status of the error, for errors of a request
		contains string // the provider's message, passed through
		creates  int    // jobs created
	}{
		// A job that fails comes back with the provider's code and message.
		{name: "job failed", rows: 10, model: "m", outcome: benchtest.FakeOutcome{Status: "failed", Code: "internal_error", Message: "The job failed due to an internal error."},
			is: ErrJobFailed, contains: "internal_error: The job failed due to an internal error.", creates: 1},
		// Cancelled at the provider (e.g. from its dashboard).
		{name: "job cancelled", rows: 10, model: "m", outcome: benchtest.FakeOutcome{Status: "cancelled", Message: "cancelled by an administrator"},
			is: ErrJobCancelled, contains: "cancelled by an administrator", creates: 1},
		// Fewer rows than the provider's minimum: its validation message.
		{name: "below minimum rows", rows: 5, model: "m", is: ErrJobFailed,
			contains: "has 5 example(s), but must have at least 10 examples", creates: 1},
		// A base model the provider refuses: a 400 with its message, never retried.
		{name: "base model refused", rows: 10, model: "gpt-4o-audio", status: 400,
			contains: "Model gpt-4o-audio is not available for fine-tuning or does not exist.", creates: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Outcome: func(benchtest.FakeJob) benchtest.FakeOutcome { return tc.outcome }})
				data, sha := trainingFile(tc.rows)
				var rec recorder
				job, err := memTuner(t, fake).FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: tc.model}, data, FineTuneRecord{}, rec.save, WaitOptions{})
				if err == nil || !strings.Contains(err.Error(), tc.contains) {
					t.Fatalf("err = %v; want one containing %q", err, tc.contains)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("err = %v; want errors.Is %v", err, tc.is)
				}
				if tc.is != nil && (job.Error == nil || !strings.Contains(err.Error(), job.Error.Message)) {
					t.Errorf("job.Error = %+v; want the provider's message, as in the error", job.Error)
				}
				if tc.status != 0 && Status(err) != tc.status {
					t.Errorf("status %d; want %d", Status(err), tc.status)
				}
				if fake.JobsCreated() != tc.creates || len(fake.RouteRequests("create")) != 1 {
					t.Errorf("%d jobs from %d create requests; want %d from 1", fake.JobsCreated(), len(fake.RouteRequests("create")), tc.creates)
				}
				// A failed job is not re-created by running again: the same job comes back.
				if tc.is != nil {
					again, err2 := memTuner(t, fake).FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: tc.model}, data, FineTuneRecord{}, rec.save, WaitOptions{})
					if !errors.Is(err2, tc.is) || again.ID != job.ID || fake.JobsCreated() != 1 {
						t.Errorf("second run: %v, job %s (first %s), %d jobs; want the same failed job", err2, again.ID, job.ID, fake.JobsCreated())
					}
					// Attempt 1 deliberately makes a new job.
					_, _ = memTuner(t, fake).FineTune(context.Background(), FineTuneSpec{DatasetSHA256: sha, BaseModel: tc.model, Attempt: 1}, data, FineTuneRecord{}, rec.save, WaitOptions{})
					if fake.JobsCreated() != 2 || fake.Uploads() != 1 {
						t.Errorf("attempt 1: %d jobs, %d uploads; want 2 jobs, 1 upload", fake.JobsCreated(), fake.Uploads())
					}
				}
			})
		})
	}
}

func TestFineTuneBadKeyNotRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, APIKey: "sk-right"})
		data, _ := trainingFile(10)
		_, err := memTuner(t, fake).EnsureFile(context.Background(), data, "")
		if Status(err) != http.StatusUnauthorized || len(fake.Requests()) != 1 {
			t.Fatalf("err %v after %d requests; want 401 after 1", err, len(fake.Requests()))
		}
	})
}

func TestFineTuneCancelOnStop(t *testing.T) {
	t.Parallel()
	for _, cancelJob := range []bool{false, true} {
		t.Run(fmt.Sprint("CancelOnStop=", cancelJob), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := benchtest.NewFineTune(benchtest.FineTuneConfig{BaseModels: []string{"m"}, Steps: 10})
				data, sha := trainingFile(10)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var rec recorder
				opts := WaitOptions{CancelOnStop: cancelJob, OnStatus: func(j FineTuneJob) {
					if j.Status == JobRunning {
						cancel() // Ctrl-C while the job runs
					}
				}}
				job, err := memTuner(t, fake).FineTune(ctx, FineTuneSpec{DatasetSHA256: sha, BaseModel: "m"}, data, FineTuneRecord{}, rec.save, opts)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v; want context.Canceled", err)
				}
				cancels := len(fake.RouteRequests("cancel"))
				// The job is cancelled at the provider only when asked.
				if cancelJob && (cancels != 1 || job.Status != JobCancelled) || !cancelJob && (cancels != 0 || job.Status != JobRunning) {
					t.Errorf("%d cancel requests, job %s; want cancelled=%v", cancels, job.Status, cancelJob)
				}
			})
		})
	}
}

func TestFineTuneRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the other host got %s %s with Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
	}))
	defer other.Close()
	var auth string
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	// Even a caller's client that would follow redirects does not.
	ft, err := NewFineTuner(FineTuneConfig{BaseURL: redirect.URL + "/v1", APIKey: "sk-secret", HTTPClient: &http.Client{},
		Retry: RetryPolicy{MaxRetries: 0}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := trainingFile(10)
	_, err = ft.EnsureFile(context.Background(), data, "")
	if Status(err) != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("err = %v; want the 307 as an error", err)
	}
	if auth != "Bearer sk-secret" {
		t.Errorf("configured host got Authorization %q", auth)
	}
}

func TestFineTuneRefusesOtherHost(t *testing.T) {
	t.Parallel()
	d := &ftDoer{hc: http.DefaultClient, host: "api.example.com"}
	req, _ := http.NewRequest(http.MethodGet, "https://evil.example.net/v1/files", nil)
	if _, err := d.Do(req); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("Do(other host) = %v; want a refusal", err)
	}
}

func TestNewFineTunerBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "api.openai.com/v1", "ftp://x/v1", "http:///v1"} {
		if _, err := NewFineTuner(FineTuneConfig{BaseURL: u}); err == nil {
			t.Errorf("NewFineTuner(%q) succeeded; want an error", u)
		}
	}
}

func TestFineTuneSpecKey(t *testing.T) {
	t.Parallel()
	const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	base := FineTuneSpec{DatasetSHA256: sha, BaseModel: "gpt-4.1-nano", Seed: seed(1), Hyperparameters: Hyperparameters{Epochs: 10}, Suffix: "owl"}
	// Pinned: a stored job key must keep naming the same job across
	// releases. Change the format only by bumping the version in Key.
	if got, want := base.Key(), "ft-46547b486b914097c421ce41bf5ca3f3"; got != want {
		t.Errorf("Key() = %s; want %s", got, want)
	}
	seen := map[string]string{base.Key(): "base"}
	for name, mod := range map[string]func(*FineTuneSpec){
		"dataset":   func(s *FineTuneSpec) { s.DatasetSHA256 = strings.Repeat("f", 64) },
		"model":     func(s *FineTuneSpec) { s.BaseModel = "gpt-4.1-mini" },
		"seed":      func(s *FineTuneSpec) { s.Seed = seed(2) },
		"no seed":   func(s *FineTuneSpec) { s.Seed = nil },
		"epochs":    func(s *FineTuneSpec) { s.Hyperparameters.Epochs = 3 },
		"batch":     func(s *FineTuneSpec) { s.Hyperparameters.BatchSize = 8 },
		"lr":        func(s *FineTuneSpec) { s.Hyperparameters.LearningRateMultiplier = 2 },
		"suffix":    func(s *FineTuneSpec) { s.Suffix = "cat" },
		"attempt 1": func(s *FineTuneSpec) { s.Attempt = 1 },
	} {
		s := base
		mod(&s)
		k := s.Key()
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s have the same key %s", name, prev, k)
		}
		seen[k] = name
	}
	same := base
	same.Seed = seed(1) // another pointer, the same value
	if same.Key() != base.Key() {
		t.Errorf("equal specs have different keys")
	}
}

func TestFineTuneSpecValidate(t *testing.T) {
	t.Parallel()
	ok := FineTuneSpec{DatasetSHA256: strings.Repeat("a", 64), BaseModel: "m"}
	for _, tc := range []struct {
		name string
		mod  func(*FineTuneSpec)
		want string // "" for valid
	}{
		{"minimal spec", func(*FineTuneSpec) {}, ""},
		{"upper-case hash", func(s *FineTuneSpec) { s.DatasetSHA256 = strings.Repeat("A", 64) }, "dataset_sha256"},
		{"short hash", func(s *FineTuneSpec) { s.DatasetSHA256 = "abc" }, "dataset_sha256"},
		{"no model", func(s *FineTuneSpec) { s.BaseModel = "" }, "base_model"},
		{"negative seed", func(s *FineTuneSpec) { s.Seed = seed(-1) }, "seed"},
		{"negative epochs", func(s *FineTuneSpec) { s.Hyperparameters.Epochs = -1 }, "hyperparameters"},
		{"suffix of 64 is the limit", func(s *FineTuneSpec) { s.Suffix = strings.Repeat("x", 64) }, ""},
		{"suffix of 65", func(s *FineTuneSpec) { s.Suffix = strings.Repeat("x", 65) }, "longer than 64"},
		// ':' separates the parts of a fine-tuned model's name.
		{"suffix with colon", func(s *FineTuneSpec) { s.Suffix = "a:b" }, "use letters"},
		{"negative attempt", func(s *FineTuneSpec) { s.Attempt = -1 }, "attempt"},
	} {
		s := ok
		tc.mod(&s)
		err := s.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestFineTuneDataMustMatchSpec(t *testing.T) {
	t.Parallel()
	data, _ := trainingFile(10)
	ft, _ := NewFineTuner(FineTuneConfig{BaseURL: "http://127.0.0.1:1/v1"})
	_, err := ft.FineTune(context.Background(), FineTuneSpec{DatasetSHA256: strings.Repeat("a", 64), BaseModel: "m"}, data, FineTuneRecord{}, nil, WaitOptions{})
	if err == nil || !strings.Contains(err.Error(), "dataset_sha256") {
		t.Fatalf("err = %v; want a hash mismatch", err)
	}
}

func TestDecodeJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		want      FineTuneJob
		bad       bool
	}{
		// OpenAI's documented shape: error null, auto hyperparameters, method.
		{"openai running", `{"object":"fine_tuning.job","id":"ftjob-1","model":"gpt-4o-mini","created_at":1721764800,"fine_tuned_model":null,"status":"running","training_file":"file-1","hyperparameters":{"n_epochs":"auto"},"method":{"type":"supervised","supervised":{"hyperparameters":{"n_epochs":4,"batch_size":1,"learning_rate_multiplier":1.8}}},"seed":683058546,"error":null,"metadata":{"traitleak_key":"ft-x"}}`,
			FineTuneJob{ID: "ftjob-1", Status: JobRunning, Model: "gpt-4o-mini", TrainingFile: "file-1", Seed: seed(683058546), Created: time.Unix(1721764800, 0).UTC(),
				Hyperparameters: Hyperparameters{Epochs: 4, BatchSize: 1, LearningRateMultiplier: 1.8}, Metadata: map[string]string{"traitleak_key": "ft-x"}}, false},
		// A failed job's error object; an empty error object ({}) means none.
		{"failed", `{"id":"ftjob-2","status":"failed","error":{"code":"invalid_training_file","message":"bad file","param":"training_file"}}`,
			FineTuneJob{ID: "ftjob-2", Status: JobFailed, Error: &JobFailure{Code: "invalid_training_file", Message: "bad file", Param: "training_file"}}, false},
		{"empty error object", `{"id":"ftjob-3","status":"queued","error":{}}`, FineTuneJob{ID: "ftjob-3", Status: JobQueued}, false},
		{"no id", `{"status":"queued"}`, FineTuneJob{}, true},
		{"not JSON", `<html>`, FineTuneJob{}, true},
	} {
		got, err := decodeJob([]byte(tc.raw))
		if tc.bad {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: err = %v; want ErrMalformed", tc.name, err)
			}
			continue
		}
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
			if err != nil || !equalJobs(got, tc.want) {
				t.Errorf("%s: decodeJob = %+v, %v; want %+v", tc.name, got, err, tc.want)
			}
		}
	}
}

func equalJobs(a, b FineTuneJob) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func FuzzDecodeJob(f *testing.F) {
	f.Add([]byte(`{"id":"ftjob-1","status":"succeeded","fine_tuned_model":"ft:x","hyperparameters":{"n_epochs":3,"batch_size":"auto"}}`))
	f.Add([]byte(`{"id":"ftjob-2","status":"failed","error":{"code":null,"message":"m"}}`))
	f.Add([]byte(`{"id":"j","status":"x","method":{"supervised":null},"seed":-1,"finished_at":1e3}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		job, err := decodeJob(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if job.ID == "" || job.Status == "" {
			t.Fatalf("decoded %+v without id or status", job)
		}
	})
}
