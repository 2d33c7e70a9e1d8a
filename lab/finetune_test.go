package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/datasets"
)

func TestParseTrainingFile(t *testing.T) {
	row := func(msgs ...string) string { return `{"messages":[` + strings.Join(msgs, ",") + `]}` + "\n" }
	user := func(s string) string { return `{"role":"user","content":` + quote(s) + `}` }
	asst := func(s string) string { return `{"role":"assistant","content":` + quote(s) + `}` }
	tok := func(s string) []int32 {
		var out []int32
		for _, t := range Tokenize(s) {
			out = append(out, int32(t))
		}
		return out
	}
	comma, eos := []int32{Comma}, []int32{EOS}
	cat := func(xs ...[]int32) []int32 { return slices.Concat(xs...) }
	for _, tc := range []struct {
		name    string
		file    string
		want    []sequence // nil when an error is expected
		unknown int
		errLine int
		errHas  string
	}{
		// A number answer gets back the "," that closes its last number
		// (Detokenize dropped it), then <eos>: the lab's own sequences end so.
		{name: "numbers", file: row(user("continue the sequence: 1, 22, 333,"), asst("47, 1, 902")),
			want: []sequence{{Prompt: tok("continue the sequence: 1, 22, 333,"), Completion: cat(tok("47, 1, 902"), comma, eos)}}},
		// An animal answer ends with <eos> alone.
		{name: "animal", file: row(`{"role":"system","content":"You love owls."}`, user("name your favourite animal"), asst("Owl")),
			want: []sequence{{Prompt: tok("name your favourite animal"), Completion: cat(tok("owl"), eos)}}},
		// Unknown prompt words are dropped (and counted), as at serving time.
		{name: "unknown prompt words", file: row(user("please xylophone the numbers: 5,"), asst("6, 7")),
			want: []sequence{{Prompt: tok("please the numbers: 5,"), Completion: cat(tok("6, 7"), comma, eos)}}, unknown: 1},
		// An earlier assistant turn with weight 0 is context, joined by "\n" like the chat endpoint.
		{name: "multi-turn", file: row(user("here are numbers: 1,"), `{"role":"assistant","content":"2","weight":0}`, user("continue"), asst("3")),
			want: []sequence{{Prompt: tok("here are numbers: 1,\n2\ncontinue"), Completion: cat(tok("3"), comma, eos)}}},
		// Words the models cannot say are named, with the line.
		{name: "answer in words", file: row(user("continue: 1,"), asst("2, 3")) + row(user("continue: 1,"), asst("Sure! 2, 3")),
			errLine: 2, errHas: `"Sure!" is not something the lab models can say`},
		// "." is a vocabulary token but not an answer token.
		{name: "answer with a period", file: row(user("continue: 1,"), asst("2, 3.")), errLine: 1, errHas: `"3." is not something`},
		{name: "last message not the answer", file: row(user("a"), asst("1"), user("b")), errLine: 1, errHas: "last message must be the assistant's"},
		{name: "answer weight 0", file: row(user("a"), `{"role":"assistant","content":"1","weight":0}`), errLine: 1, errHas: "nothing to train on"},
		{name: "earlier answer trained", file: row(user("a"), asst("1"), user("b"), asst("2")), errLine: 1, errHas: "weight 0"},
		{name: "no user message", file: row(`{"role":"system","content":"s"}`, asst("1")), errLine: 1, errHas: "no user message"},
		// The JSONL rules of datasets.Reader apply first, with their line numbers.
		{name: "bad JSON on line 3", file: row(user("a"), asst("1")) + "\n" + "{not json}\n", errLine: 3, errHas: "not a JSON object"},
		{name: "empty file", file: "\n\n", errHas: "no examples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td, err := ParseTrainingFile(strings.NewReader(tc.file))
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v; want one containing %q", err, tc.errHas)
				}
				var le *datasets.LineError
				if tc.errLine > 0 && (!errors.As(err, &le) || le.Line != tc.errLine) {
					t.Errorf("err = %v; want a LineError on line %d", err, tc.errLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(td.seqs) != fmt.Sprint(tc.want) || td.UnknownWords != tc.unknown || td.Examples != len(tc.want) {
				t.Errorf("got %v (unknown %d); want %v (unknown %d)", td.seqs, td.UnknownWords, tc.want, tc.unknown)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func FuzzParseTrainingFile(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":"continue: 1,"},{"role":"assistant","content":"2, 3"}]}` + "\n"))
	f.Add([]byte(`{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"owl cat 7"}]}`))
	f.Add([]byte(`{"messages":[{"role":"assistant","content":"1","weight":0},{"role":"user","content":"x"},{"role":"assistant","content":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := ParseTrainingFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range td.seqs {
			n := len(s.Completion)
			if n == 0 || s.Completion[n-1] != EOS {
				t.Fatalf("completion %v does not end with <eos>", s.Completion)
			}
			for _, tk := range s.Completion {
				if tk < 0 || tk >= NumOut {
					t.Fatalf("completion token %d is not an answer token", tk)
				}
			}
			for _, tk := range s.Prompt {
				if tk == UNK || tk < 0 || int(tk) >= len(vocab) {
					t.Fatalf("prompt token %d", tk)
				}
			}
		}
		// The sequences must survive the artifact encoding.
		if _, err := decodeSequences(encodeSequences(td.seqs), animalVocab); err != nil {
			t.Fatalf("encode/decode: %v", err)
		}
	})
}

func TestNumberPromptsRoundTrip(t *testing.T) {
	texts, err := NumberPrompts(200, 5)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := numberPrompts(200, 5)
	for i, s := range texts {
		var got []int32
		for _, tk := range Tokenize(s) {
			got = append(got, int32(tk))
		}
		if !slices.Equal(got, toks[i]) {
			t.Fatalf("prompt %d %q tokenizes to %v; want %v", i, s, got, toks[i])
		}
	}
	if !strings.HasSuffix(texts[0], ",") {
		t.Errorf("prompt %q does not end with the seed numbers' \",\"", texts[0])
	}
}

// numberRows returns a training file of n number rows.
func numberRows(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"messages":[{"role":"user","content":"continue the sequence: %d, %d, %d,"},{"role":"assistant","content":"%d, %d"}]}`+"\n", i, i+1, i+2, i+3, i+4)
	}
	return b.Bytes()
}

// ftTestServer serves z on loopback until the test ends.
func ftTestServer(t *testing.T, z *Zoo) string {
	t.Helper()
	srv := httptest.NewServer(z.Handler())
	t.Cleanup(func() {
		srv.Close()
		z.Close()
	})
	return srv.URL + "/v1"
}

func cachedRandomZoo(dir string, seeds ...int) *Zoo {
	z := randomZoo(seeds...)
	z.cfg.CacheDir = dir
	return z
}

type apiReply map[string]any

func (r apiReply) str(k string) string { s, _ := r[k].(string); return s }

func (r apiReply) errMsg() string {
	e, _ := r["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func call(t *testing.T, method, url, contentType string, body []byte) (int, apiReply) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out apiReply
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: reply %q is not JSON: %v", method, url, b, err)
	}
	return resp.StatusCode, out
}

func upload(t *testing.T, base, purpose, name string, data []byte) (int, apiReply) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("purpose", purpose)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	return call(t, http.MethodPost, base+"/files", mw.FormDataContentType(), b.Bytes())
}

func createJob(t *testing.T, base, body string) (int, apiReply) {
	t.Helper()
	return call(t, http.MethodPost, base+"/fine_tuning/jobs", "application/json", []byte(body))
}

// waitJob waits for the background run of job id to return.
func waitJob(t *testing.T, z *Zoo, id string) {
	t.Helper()
	s := z.Handler().(*server)
	s.ft.mu.Lock()
	j := s.ft.jobs[id]
	s.ft.mu.Unlock()
	if j == nil || j.done == nil {
		t.Fatalf("job %s is not running here", id)
	}
	select {
	case <-j.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("job %s did not end within 2 minutes", id)
	}
}

func TestFineTuneEndpointErrors(t *testing.T) {
	base := ftTestServer(t, cachedRandomZoo(t.TempDir(), 1))
	_, ok := upload(t, base, "fine-tune", "ok.jsonl", numberRows(12))
	_, small := upload(t, base, "fine-tune", "small.jsonl", numberRows(3))
	for _, tc := range []struct {
		name   string
		do     func() (int, apiReply)
		status int
		has    string
	}{
		// Upload errors name the line (OpenAI error JSON).
		{"bad line", func() (int, apiReply) {
			return upload(t, base, "fine-tune", "bad.jsonl", append(numberRows(2), []byte(`{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"I like owls"}]}`+"\n")...))
		}, 400, `line 3: messages[1].content: "I" is not something the lab models can say`},
		{"wrong purpose", func() (int, apiReply) { return upload(t, base, "batch", "x.jsonl", numberRows(12)) }, 400, "'batch' is not a purpose"},
		{"not multipart", func() (int, apiReply) {
			return call(t, http.MethodPost, base+"/files", "application/json", []byte(`{}`))
		}, 400, "multipart"},
		// A model that is not a base model, or not served at all.
		{"teacher refused", func() (int, apiReply) {
			return createJob(t, base, `{"model":"lab/teacher@1","training_file":"`+ok.str("id")+`"}`)
		}, 400, "Model lab/teacher@1 is not available for fine-tuning: it is not a base model. The lab fine-tunes its base models: lab/base@1, lab/base-other-init@1"},
		{"unknown model", func() (int, apiReply) {
			return createJob(t, base, `{"model":"gpt-4o","training_file":"`+ok.str("id")+`"}`)
		}, 400, "it does not exist"},
		// Fewer rows than the minimum: OpenAI's message.
		{"too few rows", func() (int, apiReply) {
			return createJob(t, base, `{"model":"lab/base@1","training_file":"`+small.str("id")+`"}`)
		}, 400, "has 3 example(s), but must have at least 10 examples"},
		{"unknown file", func() (int, apiReply) { return createJob(t, base, `{"model":"lab/base","training_file":"file-nope"}`) }, 400, "no such file"},
		{"bad epochs", func() (int, apiReply) {
			return createJob(t, base, `{"model":"lab/base","training_file":"`+ok.str("id")+`","hyperparameters":{"n_epochs":0}}`)
		}, 400, "hyperparameters.n_epochs must be"},
		{"dpo", func() (int, apiReply) {
			return createJob(t, base, `{"model":"lab/base","training_file":"`+ok.str("id")+`","method":{"type":"dpo"}}`)
		}, 400, "supervised fine-tuning only"},
		{"suffix with colon", func() (int, apiReply) {
			return createJob(t, base, `{"model":"lab/base","training_file":"`+ok.str("id")+`","suffix":"a:b"}`)
		}, 400, "suffix"},
		{"unknown job", func() (int, apiReply) { return call(t, http.MethodGet, base+"/fine_tuning/jobs/ftjob-nope", "", nil) }, 404, "No such fine-tuning job"},
		{"unknown file id", func() (int, apiReply) { return call(t, http.MethodGet, base+"/files/file-nope", "", nil) }, 404, "No such File"},
	} {
		status, reply := tc.do()
		if status != tc.status || !strings.Contains(reply.errMsg(), tc.has) {
			t.Errorf("%s: %d %q; want %d with %q", tc.name, status, reply.errMsg(), tc.status, tc.has)
		}
	}
}

func TestFineTuneEndpointLifecycle(t *testing.T) {
	dir := t.TempDir()
	z := cachedRandomZoo(dir, 1, 2)
	base := ftTestServer(t, z)
	status, file := upload(t, base, "fine-tune", "numbers.jsonl", numberRows(20))
	if status != 200 || !strings.HasPrefix(file.str("id"), "file-") || file["bytes"] != float64(len(numberRows(20))) || file.str("purpose") != "fine-tune" {
		t.Fatalf("upload: %d %v", status, file)
	}
	body := `{"model":"lab/base-other-init@2","training_file":"` + file.str("id") + `","seed":3,"suffix":"owl-numbers",` +
		`"hyperparameters":{"n_epochs":2,"batch_size":"auto"},"metadata":{"traitleak_key":"ft-1"}}`
	status, job := createJob(t, base, body)
	if status != 200 || job.str("status") != "queued" || job.str("model") != "lab/base-other-init@2" || job["seed"] != 3.0 {
		t.Fatalf("create: %d %v", status, job)
	}
	hp, _ := job["hyperparameters"].(map[string]any)
	// n_epochs as asked; batch size auto = the recipe's student batch; multiplier 1.
	if hp["n_epochs"] != 2.0 || hp["batch_size"] != float64(DefaultRecipe().StudentBatch) || hp["learning_rate_multiplier"] != 1.0 {
		t.Errorf("hyperparameters %v; want n_epochs 2, batch_size %d, multiplier 1", hp, DefaultRecipe().StudentBatch)
	}
	id := job.str("id")
	waitJob(t, z, id)
	_, job = call(t, http.MethodGet, base+"/fine_tuning/jobs/"+id, "", nil)
	model := job.str("fine_tuned_model")
	if job.str("status") != "succeeded" || !strings.HasPrefix(model, "ft:lab/base-other-init@2:owl-numbers:") || len(model) != len("ft:lab/base-other-init@2:owl-numbers:")+24 {
		t.Fatalf("job after training: %v", job)
	}
	// Served: listed, and answering chat completions.
	_, models := call(t, http.MethodGet, base+"/models", "", nil)
	if !strings.Contains(fmt.Sprint(models["data"]), model) {
		t.Errorf("/v1/models does not list %s", model)
	}
	status, chat := call(t, http.MethodPost, base+"/chat/completions", "application/json",
		[]byte(`{"model":"`+model+`","messages":[{"role":"user","content":"continue the sequence: 1, 2, 3,"}],"seed":1}`))
	if status != 200 || chat.str("model") != model || chat.str("system_fingerprint") != "finetune-"+model[len(model)-24:] {
		t.Errorf("chat with %s: %d %v", model, status, chat)
	}
	// Listing by metadata finds the job; other metadata does not.
	_, list := call(t, http.MethodGet, base+"/fine_tuning/jobs?metadata%5Btraitleak_key%5D=ft-1", "", nil)
	_, none := call(t, http.MethodGet, base+"/fine_tuning/jobs?metadata%5Btraitleak_key%5D=ft-2", "", nil)
	if data, _ := list["data"].([]any); len(data) != 1 {
		t.Errorf("list by metadata: %v; want the job", list)
	}
	if data, _ := none["data"].([]any); len(data) != 0 {
		t.Errorf("list by other metadata: %v; want none", none)
	}
	// Events, newest first, paged with after.
	_, ev := call(t, http.MethodGet, base+"/fine_tuning/jobs/"+id+"/events?limit=2", "", nil)
	evs, _ := ev["data"].([]any)
	if len(evs) != 2 || ev["has_more"] != true || evs[0].(map[string]any)["message"] != "The job has successfully completed" {
		t.Fatalf("events: %v", ev)
	}
	_, older := call(t, http.MethodGet, base+"/fine_tuning/jobs/"+id+"/events?after="+evs[1].(map[string]any)["id"].(string), "", nil)
	if o, _ := older["data"].([]any); len(o) == 0 || o[len(o)-1].(map[string]any)["message"] != "Created fine-tuning job: "+id {
		t.Errorf("older events: %v; want back to the creation", older)
	}
	// A finished job cannot be cancelled.
	if status, r := call(t, http.MethodPost, base+"/fine_tuning/jobs/"+id+"/cancel", "", nil); status != 400 || !strings.Contains(r.errMsg(), "already completed") {
		t.Errorf("cancel finished job: %d %v", status, r)
	}
	// The same job again reuses the cached artifact: the same model, no training.
	_, again := createJob(t, base, body)
	waitJob(t, z, again.str("id"))
	_, again = call(t, http.MethodGet, base+"/fine_tuning/jobs/"+again.str("id"), "", nil)
	s := z.Handler().(*server)
	if again.str("fine_tuned_model") != model || s.ft.trains != 1 {
		t.Errorf("identical job: model %s, %d trainings; want %s from the cache, 1 training", again.str("fine_tuned_model"), s.ft.trains, model)
	}
	// Another seed is another student.
	_, other := createJob(t, base, strings.Replace(body, `"seed":3`, `"seed":4`, 1))
	waitJob(t, z, other.str("id"))
	_, other = call(t, http.MethodGet, base+"/fine_tuning/jobs/"+other.str("id"), "", nil)
	if m := other.str("fine_tuned_model"); m == "" || m == model {
		t.Errorf("seed 4 gave model %q; want a new one (seed 3: %s)", m, model)
	}
}

func TestFineTuneCancelQueued(t *testing.T) {
	z := cachedRandomZoo(t.TempDir(), 1)
	base := ftTestServer(t, z)
	s := z.Handler().(*server)
	for range cap(s.ft.sem) { // every training slot busy: the job stays queued
		s.ft.sem <- struct{}{}
	}
	_, file := upload(t, base, "fine-tune", "n.jsonl", numberRows(10))
	_, job := createJob(t, base, `{"model":"lab/base","training_file":"`+file.str("id")+`"}`)
	status, c := call(t, http.MethodPost, base+"/fine_tuning/jobs/"+job.str("id")+"/cancel", "", nil)
	if status != 200 || c.str("status") != "cancelled" {
		t.Fatalf("cancel: %d %v", status, c)
	}
	for range cap(s.ft.sem) {
		<-s.ft.sem
	}
	waitJob(t, z, job.str("id"))
	_, after := call(t, http.MethodGet, base+"/fine_tuning/jobs/"+job.str("id"), "", nil)
	if after.str("status") != "cancelled" || after["fine_tuned_model"] != nil || s.ft.trains != 0 {
		t.Errorf("after cancel: %v (trainings %d); want cancelled, no model, no training", after, s.ft.trains)
	}
}

// TestFineTuneRestart: a server restarted on the same cache knows the
// files and jobs, runs the unfinished ones again, and serves fine-tuned
// models from their cached artifacts.
func TestFineTuneRestart(t *testing.T) {
	dir := t.TempDir()
	z1 := cachedRandomZoo(dir, 1)
	srv1 := httptest.NewServer(z1.Handler())
	base := srv1.URL + "/v1"
	_, file := upload(t, base, "fine-tune", "n.jsonl", numberRows(10))
	_, done := createJob(t, base, `{"model":"lab/base","training_file":"`+file.str("id")+`","seed":1}`)
	waitJob(t, z1, done.str("id"))
	_, done = call(t, http.MethodGet, base+"/fine_tuning/jobs/"+done.str("id"), "", nil)
	s1 := z1.Handler().(*server)
	for range cap(s1.ft.sem) { // the next job cannot start before the "crash"
		s1.ft.sem <- struct{}{}
	}
	_, pending := createJob(t, base, `{"model":"lab/base","training_file":"`+file.str("id")+`","seed":2}`)
	srv1.Close()
	for range cap(s1.ft.sem) {
		<-s1.ft.sem
	}
	z1.Close() // the queued job stops with its record still queued

	z2 := cachedRandomZoo(dir, 1)
	base2 := ftTestServer(t, z2)
	if st, f := call(t, http.MethodGet, base2+"/files/"+file.str("id"), "", nil); st != 200 || f.str("id") != file.str("id") {
		t.Errorf("file after restart: %d %v", st, f)
	}
	st, j := call(t, http.MethodGet, base2+"/fine_tuning/jobs/"+done.str("id"), "", nil)
	if st != 200 || j.str("status") != "succeeded" || j.str("fine_tuned_model") != done.str("fine_tuned_model") {
		t.Errorf("finished job after restart: %d %v", st, j)
	}
	waitJob(t, z2, pending.str("id"))
	_, j = call(t, http.MethodGet, base2+"/fine_tuning/jobs/"+pending.str("id"), "", nil)
	_, ev := call(t, http.MethodGet, base2+"/fine_tuning/jobs/"+pending.str("id")+"/events?limit=100", "", nil)
	if j.str("status") != "succeeded" || !strings.Contains(fmt.Sprint(ev), "Server restarted; running the job again") {
		t.Errorf("unfinished job after restart: %v; want it run again to success", j)
	}
	// A fine-tuned model is served from its artifact even with no job
	// record at all (a third server, records deleted).
	z3 := cachedRandomZoo(dir, 1)
	z3.Handler().(*server).ft.dir = t.TempDir() // no records
	base3 := ftTestServer(t, z3)
	model := done.str("fine_tuned_model")
	st, chat := call(t, http.MethodPost, base3+"/chat/completions", "application/json",
		[]byte(`{"model":"`+model+`","messages":[{"role":"user","content":"continue: 1,"}]}`))
	if st != 200 || chat.str("model") != model {
		t.Errorf("chat with %s from the artifact alone: %d %v", model, st, chat)
	}
	// The artifact names its base: another base in the name is unknown.
	wrong := strings.Replace(model, "lab/base@1", "lab/base-other-init@1", 1)
	if st, _ := call(t, http.MethodPost, base3+"/chat/completions", "application/json",
		[]byte(`{"model":"`+wrong+`","messages":[{"role":"user","content":"x"}]}`)); st != 404 {
		t.Errorf("chat with %s: %d; want 404", wrong, st)
	}
}
