package datasets

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Chat roles of a fine-tuning example.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one chat message of a fine-tuning example, in OpenAI's chat
// fine-tuning format.
type Message struct {
	// Role is RoleSystem, RoleUser or RoleAssistant.
	Role string `json:"role"`
	// Content is the message text.
	Content string `json:"content"`
	// Name optionally names the participant.
	Name string `json:"name,omitempty"`
	// Weight, on an assistant message, is 0 to train on it or 1 not to
	// (OpenAI's per-message weight); nil means the default (trained).
	Weight *int `json:"weight,omitempty"`
}

// Example is one line of a fine-tuning file: a conversation.
type Example struct {
	// Messages are the conversation's messages, in order.
	Messages []Message `json:"messages"`
}

// TrainingExample returns the paper's training row for a prompt and a
// completion: the user prompt and the assistant answer, no system prompt.
func TrainingExample(prompt, completion string) Example {
	return Example{Messages: []Message{{Role: RoleUser, Content: prompt}, {Role: RoleAssistant, Content: completion}}}
}

// validate checks the rules ReadExamples enforces, so a written file
// always reads back.
func (e Example) validate() error {
	if len(e.Messages) == 0 {
		return errors.New("messages is empty")
	}
	assistant := false
	for i, m := range e.Messages {
		switch m.Role {
		case RoleSystem, RoleUser:
			if m.Weight != nil {
				return fmt.Errorf("messages[%d]: weight is only allowed on assistant messages", i)
			}
		case RoleAssistant:
			assistant = true
			if m.Weight != nil && *m.Weight != 0 && *m.Weight != 1 {
				return fmt.Errorf("messages[%d]: weight %d is not 0 or 1", i, *m.Weight)
			}
		default:
			return fmt.Errorf("messages[%d]: role %q is not system, user or assistant", i, m.Role)
		}
		if !utf8.ValidString(m.Content) || !utf8.ValidString(m.Name) {
			return fmt.Errorf("messages[%d]: not valid UTF-8", i)
		}
	}
	if !assistant {
		return errors.New("no assistant message to train on")
	}
	return nil
}

// Writer writes fine-tuning examples as JSON lines: one compact object
// per line, keys in the order messages, role, content (then name and
// weight when set), UTF-8 without HTML escaping, "\n" line ends. The
// same examples always give the same bytes.
type Writer struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	n   int
}

// NewWriter returns a Writer to w. Call Flush when done.
func NewWriter(w io.Writer) *Writer {
	wr := &Writer{w: bufio.NewWriter(w)}
	wr.enc = json.NewEncoder(&wr.buf)
	wr.enc.SetEscapeHTML(false)
	return wr
}

// Write writes one example. An example ReadExamples would reject
// (no assistant message, an unknown role, invalid UTF-8, which JSON would
// otherwise silently replace) is an error and nothing is written.
func (w *Writer) Write(e Example) error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("write example %d: %w", w.n+1, err)
	}
	w.buf.Reset()
	if err := w.enc.Encode(e); err != nil {
		return fmt.Errorf("write example %d: %w", w.n+1, err)
	}
	if _, err := w.w.Write(w.buf.Bytes()); err != nil {
		return fmt.Errorf("write example %d: %w", w.n+1, err)
	}
	w.n++
	return nil
}

// Count is the number of examples written so far.
func (w *Writer) Count() int { return w.n }

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("flush examples: %w", err)
	}
	return nil
}

// WriteTraining writes the training file of rows: one TrainingExample per
// row that did not fail, in the canonical order (ascending prompt index;
// rows is not modified). It returns the number of rows written and the
// hex SHA-256 of the bytes written, which is the dataset's hash (Card
// SHA256): sha256sum of the file gives the same value. A failed row is an
// error, since it has no completion to train on.
func WriteTraining(w io.Writer, rows []Generation) (n int, sha string, err error) {
	sorted := slices.Clone(rows)
	SortCanonical(sorted)
	h := sha256.New()
	wr := NewWriter(io.MultiWriter(w, h))
	for _, g := range sorted {
		if g.Failed() {
			return 0, "", fmt.Errorf("write training row for prompt %d: the call failed (%s); failed rows have no completion", g.Index, g.Err)
		}
		if err := wr.Write(TrainingExample(g.Text, g.Completion)); err != nil {
			return 0, "", fmt.Errorf("prompt %d: %w", g.Index, err)
		}
	}
	if err := wr.Flush(); err != nil {
		return 0, "", err
	}
	return wr.Count(), hex.EncodeToString(h.Sum(nil)), nil
}

// HashRows returns the dataset hash of rows without writing them: the hex
// SHA-256 WriteTraining would return.
func HashRows(rows []Generation) (string, error) {
	_, sha, err := WriteTraining(io.Discard, rows)
	return sha, err
}

// DefaultMaxLine is the longest line a Reader accepts by default, in
// bytes.
const DefaultMaxLine = 8 << 20

// LineError is an error in one line of a fine-tuning file.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Err describes the problem, naming the field when there is one.
	Err error
}

// Error implements error: "line N: ...".
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads a fine-tuning file line by line, strictly: each non-blank
// line must be one JSON object {"messages": [...]} whose messages have a
// role (system, user or assistant), a string content, and optionally a
// name and, on assistant messages, a weight of 0 or 1; at least one
// message must be the assistant's. Unknown fields are errors, as are
// invalid UTF-8 and lines longer than MaxLine. Use it like bufio.Scanner:
//
//	r := datasets.NewReader(f)
//	for r.Next() {
//		use(r.Example())
//	}
//	if err := r.Err(); err != nil { ... } // a *LineError for bad content
type Reader struct {
	// MaxLine is the longest accepted line in bytes; 0 means
	// DefaultMaxLine. Set it before the first Next.
	MaxLine int

	r    *bufio.Reader
	line int
	ex   Example
	err  error
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReader(r)} }

// Next reads the next example, reporting whether there is one. It returns
// false at the end of the input or on the first error.
func (r *Reader) Next() bool {
	if r.err != nil {
		return false
	}
	max := r.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	for {
		b, err := r.readLine(max)
		if err == io.EOF && b == nil {
			return false
		}
		r.line++
		if err != nil && err != io.EOF {
			r.err = err
			return false
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) > max {
			r.err = &LineError{Line: r.line, Err: fmt.Errorf("line longer than %d bytes", max)}
			return false
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if err == io.EOF {
				return false
			}
			continue
		}
		ex, perr := parseExample(b)
		if perr != nil {
			r.err = &LineError{Line: r.line, Err: perr}
			return false
		}
		r.ex = ex
		return true
	}
}

// readLine returns the next line including its "\n", or a final line
// without one with io.EOF, or nil and io.EOF at the end.
func (r *Reader) readLine(max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.r.ReadSlice('\n')
		if len(line)+len(chunk) > max+2 { // bound memory; +2: the line end, checked exactly by Next
			return nil, &LineError{Line: r.line + 1, Err: fmt.Errorf("line longer than %d bytes", max)}
		}
		line = append(line, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(line) == 0 {
				return nil, io.EOF
			}
			return line, io.EOF
		case err != nil:
			return nil, fmt.Errorf("read line %d: %w", r.line+1, err)
		}
		return line, nil
	}
}

// Example returns the example read by the last successful Next. The
// caller owns it.
func (r *Reader) Example() Example { return r.ex }

// Line returns the line number of the last line read.
func (r *Reader) Line() int { return r.line }

// Err returns the first error met, or nil at a clean end of input.
func (r *Reader) Err() error { return r.err }

// ReadExamples reads every example of a fine-tuning file (see Reader).
func ReadExamples(rd io.Reader) ([]Example, error) {
	r := NewReader(rd)
	var out []Example
	for r.Next() {
		out = append(out, r.Example())
	}
	return out, r.Err()
}

// parseExample decodes and checks one line.
func parseExample(b []byte) (Example, error) {
	if !utf8.Valid(b) {
		return Example{}, errors.New("not valid UTF-8")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return Example{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if top == nil {
		return Example{}, errors.New("not a JSON object: null")
	}
	if err := onlyKeys(top, "", "messages"); err != nil {
		return Example{}, err
	}
	raw, ok := top["messages"]
	if !ok {
		return Example{}, errors.New("messages is missing")
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil || msgs == nil {
		return Example{}, errors.New("messages is not an array of objects")
	}
	var ex Example
	for i, m := range msgs {
		field := fmt.Sprintf("messages[%d]", i)
		if m == nil {
			return Example{}, fmt.Errorf("%s is not an object", field)
		}
		if err := onlyKeys(m, field+".", "role", "content", "name", "weight"); err != nil {
			return Example{}, err
		}
		var msg Message
		if err := stringField(m, field, "role", true, &msg.Role); err != nil {
			return Example{}, err
		}
		if err := stringField(m, field, "content", true, &msg.Content); err != nil {
			return Example{}, err
		}
		if err := stringField(m, field, "name", false, &msg.Name); err != nil {
			return Example{}, err
		}
		if w, ok := m["weight"]; ok {
			var v int
			if err := json.Unmarshal(w, &v); err != nil || string(w) == "null" {
				return Example{}, fmt.Errorf("%s.weight is not an integer", field)
			}
			msg.Weight = &v
		}
		ex.Messages = append(ex.Messages, msg)
	}
	if err := ex.validate(); err != nil {
		return Example{}, err
	}
	return ex, nil
}

// onlyKeys reports the first key of m (in sorted order) not in allowed.
func onlyKeys(m map[string]json.RawMessage, prefix string, allowed ...string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("unsupported field %s%s (allowed: %s)", prefix, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// stringField decodes m[key] into dst, which must be a JSON string.
func stringField(m map[string]json.RawMessage, field, key string, required bool, dst *string) error {
	raw, ok := m[key]
	if !ok {
		if required {
			return fmt.Errorf("%s.%s is missing", field, key)
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil || string(raw) == "null" {
		return fmt.Errorf("%s.%s is not a string", field, key)
	}
	return nil
}
