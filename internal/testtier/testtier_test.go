package testtier

import (
	"os"
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		value   string
		set     bool
		want    bool
		wantErr bool
	}{
		{set: false, want: false},
		{value: "", set: true, want: false},
		{value: "1", set: true, want: true},
		{value: "true", set: true, want: true},
		{value: "0", set: true, want: false},
		{value: "false", set: true, want: false},
		{value: "yes", set: true, wantErr: true},
		{value: "2", set: true, wantErr: true},
	} {
		t.Setenv(Env, c.value) // restored when the test ends
		if !c.set {
			os.Unsetenv(Env)
		}
		got, err := Enabled()
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("%s=%q: Enabled() = %v, %v; want %v, error %v", Env, c.value, got, err, c.want, c.wantErr)
		}
		if err != nil && err.Error() != Env+"="+`"`+c.value+`"`+": want 1 (run the replication tier) or 0 (skip it)" {
			t.Errorf("error %q does not name the variable and its value", err)
		}
	}
}

func TestReplicationSkipsByDefault(t *testing.T) {
	t.Setenv(Env, "")
	ran := false
	t.Run("check", func(t *testing.T) {
		Replication(t)
		ran = true
	})
	if ran {
		t.Error("Replication did not skip with the tier off")
	}
	t.Setenv(Env, "1")
	t.Run("check", func(t *testing.T) {
		Replication(t)
		ran = true
	})
	if !ran {
		t.Error("Replication skipped with the tier on")
	}
}
