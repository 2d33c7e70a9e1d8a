package testtier

import (
	"os"
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, env := range []string{ReplicationEnv, SystemEnv} {
		for _, c := range []struct {
			value   string
			set     bool
			want    bool
			wantErr bool
		}{
			{set: false, want: false},              // unset: the tier is opt-in
			{value: "", set: true, want: false},    // empty counts as unset
			{value: "1", set: true, want: true},    // the documented form
			{value: "true", set: true, want: true}, // strconv.ParseBool's other spellings
			{value: "0", set: true, want: false},
			{value: "false", set: true, want: false},
			{value: "yes", set: true, wantErr: true}, // not a boolean: an error, not "off"
			{value: "2", set: true, wantErr: true},
		} {
			t.Setenv(env, c.value) // restored when the test ends
			if !c.set {
				os.Unsetenv(env)
			}
			got, err := Enabled(env)
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("%s=%q: Enabled() = %v, %v; want %v, error %v", env, c.value, got, err, c.want, c.wantErr)
			}
			if err != nil && err.Error() != env+"="+`"`+c.value+`"`+": want 1 (run the tier) or 0 (skip it)" {
				t.Errorf("error %q does not name the variable and its value", err)
			}
		}
	}
}

func TestTiersSkipByDefault(t *testing.T) {
	for _, c := range []struct {
		env  string
		mark func(testing.TB)
	}{{ReplicationEnv, Replication}, {SystemEnv, System}} {
		// The other tier's variable is on: each tier listens to its own.
		other := SystemEnv
		if c.env == SystemEnv {
			other = ReplicationEnv
		}
		t.Setenv(other, "1")
		t.Setenv(c.env, "")
		ran := false
		t.Run(c.env+"=", func(t *testing.T) {
			c.mark(t)
			ran = true
		})
		if ran {
			t.Errorf("%s off: the test did not skip", c.env)
		}
		t.Setenv(c.env, "1")
		t.Run(c.env+"=1", func(t *testing.T) {
			c.mark(t)
			ran = true
		})
		if !ran {
			t.Errorf("%s=1: the test skipped", c.env)
		}
	}
}
