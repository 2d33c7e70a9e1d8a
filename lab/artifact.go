package lab

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/traitleak/traitleak/internal/atomicfile"
)

// Artifact format and code versions. Bump codeVersion whenever a change
// alters what a stage computes from the same inputs (training loop, data
// generation, sampling); cached artifacts of other versions are ignored.
const (
	formatVersion = 1
	codeVersion   = "lab-2026.2"
)

// Manifest describes one stored stage output and its lineage. The artifact
// id is a hash of the fields of the embedded stage key that determine the
// output (format, code, stage, seed, parents, data hash and parameters);
// the key's role, metrics, timings and payload facts are recorded but not
// hashed.
type Manifest struct {
	ID string `json:"id"`
	stageKey

	PayloadSHA256 string          `json:"payload_sha256"`
	PayloadBytes  int             `json:"payload_bytes"`
	Metrics       json.RawMessage `json:"metrics,omitempty"`
	TrainSeconds  float64         `json:"train_seconds"`
	Created       time.Time       `json:"created"`
}

// stageKey is the identifying part of a manifest, in manifest field order.
// Role, the output's place in the experiment, is recorded but does not
// determine the output, so id leaves it out.
type stageKey struct {
	Format   int             `json:"format"`
	Code     string          `json:"code"`
	Stage    string          `json:"stage"`
	Role     string          `json:"role,omitempty"`
	Seed     uint64          `json:"seed"`
	Parents  []string        `json:"parents"`
	DataHash string          `json:"data_hash"`
	Params   json.RawMessage `json:"params"`
}

// newStageKey builds the key of a stage output with the given role;
// params is marshalled to JSON.
func newStageKey(stage, role string, seed uint64, parents []string, dataHash string, params any) (stageKey, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return stageKey{}, fmt.Errorf("marshal %s parameters: %w", stage, err)
	}
	if parents == nil {
		parents = []string{}
	}
	return stageKey{Format: formatVersion, Code: codeVersion, Stage: stage, Role: role, Seed: seed, Parents: parents, DataHash: dataHash, Params: p}, nil
}

// id is the artifact id: the stage, "-" and the first 24 hex digits of the
// SHA-256 of the key's JSON without Role.
func (k stageKey) id() string {
	k.Role = "" // omitempty: the JSON is that of the key without a role
	// Marshal cannot fail: plain fields and validated raw JSON.
	b, _ := json.Marshal(k)
	sum := sha256.Sum256(b)
	return k.Stage + "-" + hex.EncodeToString(sum[:12])
}

// hashBytes returns the hex SHA-256 of b.
func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// store is an artifact directory. A nil *store stores nothing.
type store struct {
	dir string
}

func (s *store) paths(id string) (manifest, payload string) {
	return filepath.Join(s.dir, id+".json"), filepath.Join(s.dir, id+".bin")
}

// errMissing marks an artifact that is not in the store.
var errMissing = errors.New("artifact not in cache")

// load reads and verifies the artifact for key. Any mismatch or corruption
// is reported as an error; the caller then retrains.
func (s *store) load(key stageKey) (*Manifest, []byte, error) {
	return s.loadID(key.id())
}

// save writes the payload and then the manifest, each atomically (a
// temporary file in the same directory renamed into place). The manifest
// is written last, so a reader never sees a manifest without its payload;
// an interrupted save leaves at most an orphan payload or temporary file.
// Concurrent saves of the same id write identical payloads.
func (s *store) save(m *Manifest, payload []byte) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	m.PayloadBytes = len(payload)
	m.PayloadSHA256 = hashBytes(payload)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal manifest: %w", err)
	}
	mp, pp := s.paths(m.ID)
	if err := atomicfile.Write(pp, payload); err != nil {
		return err
	}
	return atomicfile.Write(mp, append(mb, '\n'))
}

// removeStale deletes temporary files older than age, left behind by
// builds that were killed while writing. Errors are ignored: the files are
// harmless and another build may be removing them too.
func (s *store) removeStale(age time.Duration) {
	tmp, _ := filepath.Glob(filepath.Join(s.dir, ".tmp-*"))
	for _, f := range tmp {
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > age {
			os.Remove(f)
		}
	}
}

// Model payload: magic "LABM", uint32 H, uint32 V, then len(P) float64,
// all little-endian.
const modelMagic = "LABM"

func encodeModel(m *Model) []byte {
	b := make([]byte, 12+8*len(m.P))
	copy(b, modelMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(m.H))
	binary.LittleEndian.PutUint32(b[8:], uint32(m.V))
	for i, x := range m.P {
		binary.LittleEndian.PutUint64(b[12+8*i:], math.Float64bits(x))
	}
	return b
}

// decodeModel decodes a model payload over the vocabulary voc.
func decodeModel(b []byte, voc *vocabulary) (*Model, error) {
	if len(b) < 12 || string(b[:4]) != modelMagic {
		return nil, errors.New("model payload: bad header")
	}
	h := int(binary.LittleEndian.Uint32(b[4:]))
	v := int(binary.LittleEndian.Uint32(b[8:]))
	if h <= 0 || h > 4096 || v != len(voc.tokens) {
		return nil, fmt.Errorf("model payload: shape H=%d V=%d does not match vocabulary of %d", h, v, len(voc.tokens))
	}
	n := paramCount(h, v, voc.out)
	if len(b) != 12+8*n {
		return nil, fmt.Errorf("model payload: %d bytes, want %d", len(b), 12+8*n)
	}
	m := newModelShape(voc, h)
	for i := range m.P {
		m.P[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[12+8*i:]))
	}
	if err := m.checkShape(); err != nil {
		return nil, err
	}
	return m, nil
}

// Sequence payload: magic "LABS", uint32 count, then per sequence uint16
// prompt length, prompt tokens (one byte each), uint16 completion length,
// completion tokens.
const seqMagic = "LABS"

func encodeSequences(seqs []sequence) []byte {
	b := append([]byte(seqMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(seqs)))
	put := func(toks []int32) {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(toks)))
		for _, t := range toks {
			b = append(b, byte(t))
		}
	}
	for _, s := range seqs {
		put(s.Prompt)
		put(s.Completion)
	}
	return b
}

// decodeSequences decodes a sequence payload whose prompts are tokens of
// voc and whose completions are answer tokens of voc.
func decodeSequences(b []byte, voc *vocabulary) ([]sequence, error) {
	if len(b) < 8 || string(b[:4]) != seqMagic {
		return nil, errors.New("sequence payload: bad header")
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	b = b[8:]
	if n > len(b) {
		return nil, errors.New("sequence payload: truncated")
	}
	get := func(maxTok int) ([]int32, error) {
		if len(b) < 2 {
			return nil, errors.New("sequence payload: truncated")
		}
		l := int(binary.LittleEndian.Uint16(b))
		b = b[2:]
		if len(b) < l {
			return nil, errors.New("sequence payload: truncated")
		}
		out := make([]int32, l)
		for i := range out {
			if int(b[i]) >= maxTok {
				return nil, fmt.Errorf("sequence payload: token %d out of range", b[i])
			}
			out[i] = int32(b[i])
		}
		b = b[l:]
		return out, nil
	}
	seqs := make([]sequence, n)
	for i := range seqs {
		var err error
		if seqs[i].Prompt, err = get(len(voc.tokens)); err != nil {
			return nil, err
		}
		if seqs[i].Completion, err = get(voc.out); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errors.New("sequence payload: trailing bytes")
	}
	return seqs, nil
}
