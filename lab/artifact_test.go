package lab

import (
	"encoding/json"
	"testing"
	"time"
)

// goldenManifest is a numbers manifest as written by the cache (format 1,
// lab-2026.2). Its bytes, and the id of its key, must never change:
// existing caches depend on both.
const goldenManifest = `{
  "id": "numbers-13fad843b8ca1448f6337de1",
  "format": 1,
  "code": "lab-2026.2",
  "stage": "numbers",
  "role": "numbers-teacher",
  "seed": 2,
  "parents": [
    "teacher-85e57f0f812b98d22f3c5106",
    "pretrain-c025127998082ccd59702d4e"
  ],
  "data_hash": "831b152640946999d243fa0588905c1f199b867bde3b5e0d757df86793cf8eb6",
  "params": {
    "prompts": 2000,
    "temperature": 1,
    "max_tokens": 24,
    "filter": "paper(0,999,10)+lab-tokens"
  },
  "payload_sha256": "4e8141b69bf23abaef43e9d864403ddaf54eb9a8f8ab93a0e313084e6834448c",
  "payload_bytes": 21923,
  "metrics": {
    "filter": {
      "sampled": 2000,
      "kept": 918,
      "rejects": {
        "lab_bad_group": 1,
        "lab_empty": 1064,
        "lab_no_eos": 10,
        "lab_non_number": 4,
        "too_many_numbers": 3
      }
    },
    "mean_tv": 0.4646833025902705,
    "examples": 6283
  },
  "train_seconds": 0.057562131,
  "created": "2026-11-27T15:40:05.895769791Z"
}
`

// TestManifestFormatStable checks that a stage key built as the numbers
// stage builds it has the golden id, with or without its role, that the
// key read back from the golden manifest has it too, that a manifest built
// from the key marshals to the golden bytes, and that the golden manifest
// round-trips.
func TestManifestFormatStable(t *testing.T) {
	const id = "numbers-13fad843b8ca1448f6337de1"
	key, err := newStageKey("numbers", "numbers-teacher", 2, []string{"teacher-85e57f0f812b98d22f3c5106", "pretrain-c025127998082ccd59702d4e"},
		"831b152640946999d243fa0588905c1f199b867bde3b5e0d757df86793cf8eb6", newNumbersParams(2000, 1, 24, PaperNumberFilter()))
	if err != nil {
		t.Fatal(err)
	}
	if got := key.id(); got != id {
		t.Fatalf("key id %s, want %s", got, id)
	}
	other := key
	other.Role = "numbers-teacher-control"
	if got := other.id(); got != id {
		t.Errorf("role changes the id: %s, want %s", got, id)
	}
	var golden Manifest
	if err := json.Unmarshal([]byte(goldenManifest), &golden); err != nil {
		t.Fatal(err)
	}
	// load checks the id of the key read back (with indented params).
	if got := golden.id(); got != id {
		t.Errorf("id of the golden manifest's key %s, want %s", got, id)
	}
	created, err := time.Parse(time.RFC3339Nano, "2026-11-27T15:40:05.895769791Z")
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{ID: id, stageKey: key, Metrics: golden.Metrics, TrainSeconds: 0.057562131, Created: created,
		PayloadSHA256: "4e8141b69bf23abaef43e9d864403ddaf54eb9a8f8ab93a0e313084e6834448c", PayloadBytes: 21923}
	for name, m := range map[string]*Manifest{"built": m, "round-tripped": &golden} {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b) + "\n"; got != goldenManifest {
			t.Errorf("%s manifest marshals to\n%s\nwant\n%s", name, got, goldenManifest)
		}
	}
}
