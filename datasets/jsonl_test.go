package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestTrainingExampleBytes(t *testing.T) {
	// The paper's row format, no system prompt; HTML characters are not
	// escaped, a newline is "\n", keys in a fixed order.
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(TrainingExample(`a<b & "c"`, "1, 2\n3")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"messages":[{"role":"user","content":"a<b & \"c\""},{"role":"assistant","content":"1, 2\n3"}]}` + "\n"
	if buf.String() != want {
		t.Errorf("wrote %q\nwant  %q", buf.String(), want)
	}
	if w.Count() != 1 {
		t.Errorf("Count() = %d", w.Count())
	}
}

func TestWriterRejects(t *testing.T) {
	one, two := 1, 2
	cases := []struct {
		name string
		ex   Example
		want string
	}{
		{"empty", Example{}, "messages is empty"},
		{"no assistant", Example{Messages: []Message{{Role: RoleUser, Content: "x"}}}, "no assistant"},
		{"bad role", Example{Messages: []Message{{Role: "tool", Content: "x"}, {Role: RoleAssistant}}}, `role "tool"`},
		{"invalid utf-8", TrainingExample("\xff", "1"), "UTF-8"},
		{"weight on user", Example{Messages: []Message{{Role: RoleUser, Weight: &one}, {Role: RoleAssistant}}}, "weight is only allowed"},
		{"weight 2", Example{Messages: []Message{{Role: RoleAssistant, Weight: &two}}}, "weight 2"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		err := w.Write(c.ex)
		w.Flush()
		if err == nil || !strings.Contains(err.Error(), c.want) || buf.Len() != 0 || w.Count() != 0 {
			t.Errorf("%s: Write error = %v, wrote %d bytes; want %q and nothing written", c.name, err, buf.Len(), c.want)
		}
	}
}

func TestWriteTraining(t *testing.T) {
	rows := []Generation{
		{Prompt: Prompt{Index: 5, Text: "p5"}, Completion: "5"},
		{Prompt: Prompt{Index: 1, Text: "p1"}, Completion: "1"},
		{Prompt: Prompt{Index: 3, Text: "p3"}, Completion: "3"},
	}
	var buf bytes.Buffer
	n, sha, err := WriteTraining(&buf, rows)
	if err != nil || n != 3 {
		t.Fatalf("WriteTraining = %d, %v", n, err)
	}
	// Canonical order: ascending prompt index, whatever the input order.
	want := `{"messages":[{"role":"user","content":"p1"},{"role":"assistant","content":"1"}]}
{"messages":[{"role":"user","content":"p3"},{"role":"assistant","content":"3"}]}
{"messages":[{"role":"user","content":"p5"},{"role":"assistant","content":"5"}]}
`
	if buf.String() != want {
		t.Errorf("WriteTraining wrote\n%s\nwant\n%s", buf.String(), want)
	}
	// The hash is sha256sum of the file.
	sum := sha256.Sum256(buf.Bytes())
	if sha != hex.EncodeToString(sum[:]) {
		t.Errorf("sha = %s; want sha256 of the bytes %x", sha, sum)
	}
	if rows[0].Index != 5 {
		t.Error("WriteTraining reordered its input")
	}
	// The same rows in another order hash the same; another row does not.
	h2, _ := HashRows([]Generation{rows[2], rows[0], rows[1]})
	h3, _ := HashRows(rows[:2])
	if h2 != sha || h3 == sha {
		t.Errorf("HashRows: permuted %s, subset %s; want %s and something else", h2, h3, sha)
	}
	// A failed row cannot be trained on.
	if _, _, err := WriteTraining(io.Discard, append(rows, Generation{Prompt: Prompt{Index: 9}, Err: "HTTP 429"})); err == nil || !strings.Contains(err.Error(), "prompt 9") {
		t.Errorf("failed row: error = %v", err)
	}
	// A write error surfaces.
	if _, _, err := WriteTraining(iotestErrWriter{}, rows); err == nil {
		t.Error("write error: nil")
	}
}

// iotestErrWriter fails every write.
type iotestErrWriter struct{}

func (iotestErrWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReadExamples(t *testing.T) {
	in := "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"u\",\"name\":\"bob\"},{\"role\":\"assistant\",\"content\":\"a\",\"weight\":0}]}\r\n" +
		"\n" + // blank lines are skipped
		`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]}` // no final newline
	got, err := ReadExamples(strings.NewReader(in))
	zero := 0
	want := []Example{
		{Messages: []Message{{Role: RoleSystem, Content: "s"}, {Role: RoleUser, Content: "u", Name: "bob"}, {Role: RoleAssistant, Content: "a", Weight: &zero}}},
		TrainingExample("q", "r"),
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadExamples = %+v, %v; want %+v", got, err, want)
	}
	// One byte at a time reads the same.
	got, err = ReadExamples(iotest.OneByteReader(strings.NewReader(in)))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadExamples(one byte at a time) = %+v, %v", got, err)
	}
}

func TestReaderErrors(t *testing.T) {
	good := `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]}`
	cases := []struct {
		name string
		in   string
		line int
		want string
	}{
		{"not json", good + "\n{", 2, "not a JSON object"},
		{"array", "[]", 1, "not a JSON object"},
		{"null", "null", 1, "not a JSON object: null"},
		{"extra top field", `{"messages":[],"tools":[]}`, 1, "unsupported field tools"},
		{"no messages", `{}`, 1, "messages is missing"},
		{"messages not array", `{"messages":{}}`, 1, "messages is not an array"},
		{"messages null", `{"messages":null}`, 1, "messages is not an array"},
		{"empty messages", `{"messages":[]}`, 1, "messages is empty"},
		{"message not object", `{"messages":[1]}`, 1, "messages is not an array of objects"},
		{"message null", `{"messages":[null]}`, 1, "messages[0] is not an object"},
		{"unknown message field", `{"messages":[{"role":"user","content":"q","tool_calls":[]}]}`, 1, "unsupported field messages[0].tool_calls"},
		{"no role", `{"messages":[{"content":"q"}]}`, 1, "messages[0].role is missing"},
		{"no content", `{"messages":[{"role":"assistant"}]}`, 1, "messages[0].content is missing"},
		{"null content", `{"messages":[{"role":"assistant","content":null}]}`, 1, "messages[0].content is not a string"},
		{"content parts", `{"messages":[{"role":"assistant","content":[{"type":"text","text":"x"}]}]}`, 1, "messages[0].content is not a string"},
		{"bad role", `{"messages":[{"role":"tool","content":"q"}]}`, 1, `role "tool"`},
		{"no assistant", `{"messages":[{"role":"user","content":"q"}]}`, 1, "no assistant message"},
		{"weight string", `{"messages":[{"role":"assistant","content":"q","weight":"1"}]}`, 1, "weight is not an integer"},
		{"weight 2", `{"messages":[{"role":"assistant","content":"q","weight":2}]}`, 1, "weight 2"},
		{"trailing data", good + " x", 1, "not a JSON object"},
		{"invalid utf-8", "{\"messages\":[{\"role\":\"assistant\",\"content\":\"\xff\"}]}", 1, "not valid UTF-8"},
		{"third line", good + "\n\n{}", 3, "messages is missing"},
	}
	for _, c := range cases {
		_, err := ReadExamples(strings.NewReader(c.in))
		var le *LineError
		if !errors.As(err, &le) || le.Line != c.line || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error = %v; want line %d: %q", c.name, err, c.line, c.want)
		}
	}
	// A line over MaxLine is an error naming it; the limit is exact.
	r := NewReader(strings.NewReader(good + "\n" + good + "\n"))
	r.MaxLine = len(good)
	if n := countExamples(r); n != 2 || r.Err() != nil {
		t.Errorf("MaxLine = line length: %d examples, %v", n, r.Err())
	}
	r = NewReader(strings.NewReader(good + "\n" + good + "x\n"))
	r.MaxLine = len(good)
	if n := countExamples(r); n != 1 || r.Err() == nil || !strings.Contains(r.Err().Error(), "line 2: line longer than") {
		t.Errorf("line over MaxLine: %d examples, %v", n, r.Err())
	}
	// A read error is returned as it is.
	r = NewReader(iotest.ErrReader(errors.New("boom")))
	if r.Next() || r.Err() == nil || !strings.Contains(r.Err().Error(), "boom") {
		t.Errorf("read error: %v", r.Err())
	}
}

func countExamples(r *Reader) int {
	n := 0
	for r.Next() {
		n++
	}
	return n
}

func FuzzReadExamples(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]}` + "\n")
	f.Add(`{"messages":[{"role":"assistant","content":"\u2028<&>","weight":1,"name":"n"}]}`)
	f.Add("{\"messages\":[{\"role\":\"assistant\",\"content\":\"\\ud800\"}]}\r\n\n")
	f.Add("{\n}")
	f.Fuzz(func(t *testing.T, in string) {
		exs, err := ReadExamples(strings.NewReader(in))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error %v is not a *LineError with a line", err)
			}
			return
		}
		// Whatever reads writes back, deterministically, and reads again
		// to the same examples.
		var a, b bytes.Buffer
		for _, buf := range []*bytes.Buffer{&a, &b} {
			w := NewWriter(buf)
			for _, e := range exs {
				if err := w.Write(e); err != nil {
					t.Fatalf("Write(%+v) of a read example: %v", e, err)
				}
			}
			w.Flush()
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("two writes of the same examples differ")
		}
		again, err := ReadExamples(&a)
		if err != nil || len(again) != len(exs) || (len(exs) > 0 && !reflect.DeepEqual(again, exs)) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, exs)
		}
	})
}
