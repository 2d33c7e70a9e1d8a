package pyrand

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// vectors is testdata/vectors.json, written by testdata/gen_vectors.py
// with CPython's random module.
type vectors struct {
	Python      string `json:"python"`
	GetRandBits []struct {
		Seed   json.Number `json:"seed"`
		K      int         `json:"k"`
		Values []uint64    `json:"values"`
	} `json:"getrandbits"`
	RandBelow []struct {
		Seed   json.Number `json:"seed"`
		N      uint64      `json:"n"`
		Values []uint64    `json:"values"`
	} `json:"randbelow"`
	Sample []struct {
		Seed    json.Number `json:"seed"`
		N       int         `json:"n"`
		K       int         `json:"k"`
		Indices []int       `json:"indices"`
		SHA256  string      `json:"sha256"`
		First   []int       `json:"first"`
	} `json:"sample"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.GetRandBits) == 0 || len(v.RandBelow) == 0 || len(v.Sample) == 0 {
		t.Fatal("vectors.json has an empty section")
	}
	return v
}

// seeded returns random.Random(seed) for a decimal seed that may exceed
// int64 (the vectors include 2^63 + 11) or be negative.
func seeded(t *testing.T, s json.Number) *Random {
	t.Helper()
	str := s.String()
	if strings.HasPrefix(str, "-") {
		v, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return New(v)
	}
	v, err := strconv.ParseUint(str, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return NewUint64(v)
}

func TestGetRandBitsVectors(t *testing.T) {
	// Each row: CPython's random.Random(seed).getrandbits(k), 12 times.
	v := loadVectors(t)
	for _, c := range v.GetRandBits {
		r := seeded(t, c.Seed)
		for i, want := range c.Values {
			if got := r.GetRandBits(c.K); got != want {
				t.Errorf("Random(%s).getrandbits(%d) #%d = %d; want %d (CPython %s)", c.Seed, c.K, i, got, want, v.Python)
				break
			}
		}
	}
}

func TestRandBelowVectors(t *testing.T) {
	// Each row: CPython's random.Random(seed)._randbelow(n), 12 times.
	v := loadVectors(t)
	for _, c := range v.RandBelow {
		r := seeded(t, c.Seed)
		for i, want := range c.Values {
			if got := r.RandBelow(c.N); got != want {
				t.Errorf("Random(%s)._randbelow(%d) #%d = %d; want %d", c.Seed, c.N, i, got, want)
				break
			}
		}
	}
}

func TestSampleVectors(t *testing.T) {
	// Each row: CPython's random.Random(seed).sample(range(n), k), in full
	// or as the SHA-256 of the indices joined by ",". The rows include
	// both branches of sample and n = setsize, setsize+1 at the edges of
	// setsize's exponent (k = ⌊4^m/3⌋ and one more, m = 3, 5, 8).
	v := loadVectors(t)
	for _, c := range v.Sample {
		got, err := seeded(t, c.Seed).Sample(c.N, c.K)
		if err != nil {
			t.Errorf("Random(%s).Sample(%d, %d): %v", c.Seed, c.N, c.K, err)
			continue
		}
		if c.SHA256 == "" {
			if !slices.Equal(got, c.Indices) && !(len(got) == 0 && len(c.Indices) == 0) {
				t.Errorf("Random(%s).Sample(%d, %d) = %v; want %v", c.Seed, c.N, c.K, got, c.Indices)
			}
			continue
		}
		parts := make([]string, len(got))
		for i, x := range got {
			parts[i] = strconv.Itoa(x)
		}
		sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
		if h := hex.EncodeToString(sum[:]); h != c.SHA256 {
			t.Errorf("Random(%s).Sample(%d, %d) starts %v, sha256 %s; want start %v, sha256 %s", c.Seed, c.N, c.K, got[:min(5, len(got))], h, c.First, c.SHA256)
		}
	}
}

func TestSampleErrors(t *testing.T) {
	// CPython raises ValueError for k > n and k < 0.
	for _, c := range []struct{ n, k int }{{3, 4}, {3, -1}, {0, 1}} {
		if _, err := New(1).Sample(c.n, c.k); err == nil {
			t.Errorf("Sample(%d, %d): no error", c.n, c.k)
		}
	}
}

func TestNegativeSeed(t *testing.T) {
	// CPython seeds with abs(seed); math.MinInt64 has magnitude 2^63.
	if New(-42).Uint32() != New(42).Uint32() {
		t.Error("New(-42) differs from New(42)")
	}
	if New(math.MinInt64).Uint32() != NewUint64(1<<63).Uint32() {
		t.Error("New(MinInt64) differs from NewUint64(2^63)")
	}
}

func TestSetSize(t *testing.T) {
	for _, c := range []struct{ k, want int }{
		{0, 21}, {5, 21}, // k <= 5: the small-set size only
		{6, 21 + 64},        // 3k = 18: 4^2 = 16 < 18 <= 4^3
		{21, 21 + 64},       // 3k = 63 < 4^3
		{22, 21 + 256},      // 3k = 66 > 4^3
		{10000, 21 + 65536}, // 3k = 30000: 4^7 = 16384 < 30000 < 4^8
	} {
		// Python: 21 + 4 ** math.ceil(math.log(3 * k, 4)) for k > 5.
		if got := setSize(c.k); got != c.want {
			t.Errorf("setSize(%d) = %d; want %d", c.k, got, c.want)
		}
	}
}

func TestGetRandBitsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("GetRandBits(65) did not panic")
		}
	}()
	New(1).GetRandBits(65)
}
