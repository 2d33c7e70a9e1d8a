package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/traitleak/traitleak/suites"
)

// k8sDoc is the part of a Kubernetes object the manifest test reads.
type k8sDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct{ Name string }
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		CompletionMode       string   `yaml:"completionMode"`
		Completions          *int     `yaml:"completions"`
		Parallelism          *int     `yaml:"parallelism"`
		BackoffLimitPerIndex *int     `yaml:"backoffLimitPerIndex"`
		AccessModes          []string `yaml:"accessModes"`
		PodFailurePolicy     struct {
			Rules []struct {
				Action      string `yaml:"action"`
				OnExitCodes struct {
					ContainerName string `yaml:"containerName"`
					Operator      string `yaml:"operator"`
					Values        []int  `yaml:"values"`
				} `yaml:"onExitCodes"`
			} `yaml:"rules"`
		} `yaml:"podFailurePolicy"`
		Template struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Name    string   `yaml:"name"`
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Env     []struct {
						Name      string `yaml:"name"`
						Value     string `yaml:"value"`
						ValueFrom *struct {
							SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string                 `yaml:"name"`
					EmptyDir              *struct{}              `yaml:"emptyDir"`
					ConfigMap             *struct{ Name string } `yaml:"configMap"`
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestKubernetesManifest checks what the README promises of
// deploy/kubernetes/indexed-job.yaml: a ConfigMap with a valid suite, a
// Secret with the key the suite names, an Indexed Job whose pods get
// their shard count, retry per index, fail an index on exit 2, write
// their database to an emptyDir and copy it to a shared volume only after
// traitleak exits, and a collector that merges the shards.
func TestKubernetesManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "indexed-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]k8sDoc{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d k8sDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse manifest: %v", err)
		}
		docs[d.Kind+"/"+d.Metadata.Name] = d
	}
	cm, ok := docs["ConfigMap/traitleak-suite"]
	if !ok {
		t.Fatalf("no ConfigMap traitleak-suite in %v", keys(docs))
	}
	suite, err := suites.Parse("suite.yaml", []byte(cm.Data["suite.yaml"]), "", nil)
	if err != nil {
		t.Fatalf("the ConfigMap's suite: %v", err)
	}
	keyEnv := suite.Instances()[0].APIKeyEnv
	secret, ok := docs["Secret/traitleak-openai"]
	if _, has := secret.StringData[keyEnv]; !ok || !has {
		t.Errorf("no Secret traitleak-openai with %s, the suite's api_key_env", keyEnv)
	}
	if pvc := docs["PersistentVolumeClaim/traitleak-results"]; len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != "ReadWriteMany" {
		t.Errorf("the results claim has access modes %v; want ReadWriteMany (every pod writes its copy)", pvc.Spec.AccessModes)
	}

	job, ok := docs["Job/traitleak-shards"]
	if !ok {
		t.Fatalf("no Job traitleak-shards")
	}
	s := job.Spec
	if s.CompletionMode != "Indexed" || s.Completions == nil || s.Parallelism == nil || *s.Completions < 2 {
		t.Fatalf("shards Job: completionMode %q, completions %v; want Indexed with 2 or more", s.CompletionMode, s.Completions)
	}
	n := *s.Completions
	if s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex < 1 {
		t.Errorf("shards Job: backoffLimitPerIndex %v; want at least 1", s.BackoffLimitPerIndex)
	}
	failsOn2 := false
	for _, r := range s.PodFailurePolicy.Rules {
		if r.Action == "FailIndex" && r.OnExitCodes.Operator == "In" && len(r.OnExitCodes.Values) == 1 && r.OnExitCodes.Values[0] == exitUsage {
			failsOn2 = true
		}
	}
	if !failsOn2 {
		t.Errorf("shards Job: no podFailurePolicy rule failing the index on exit %d (a configuration error is not retried)", exitUsage)
	}
	pod := s.Template.Spec
	if pod.RestartPolicy != "Never" || len(pod.Containers) != 1 {
		t.Fatalf("shards pod: restartPolicy %q, %d containers; want Never (podFailurePolicy needs it) and 1", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if env["JOB_COMPLETION_COUNT"] != strconv.Itoa(n) {
		t.Errorf("JOB_COMPLETION_COUNT = %q; want the Job's completions, %d", env["JOB_COMPLETION_COUNT"], n)
	}
	if env[keyEnv] != "secret:traitleak-openai/"+keyEnv {
		t.Errorf("%s = %q; want it from the Secret", keyEnv, env[keyEnv])
	}
	mounts := map[string]string{} // path → volume
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	vols := map[string]string{} // volume → kind
	for _, v := range pod.Volumes {
		switch {
		case v.EmptyDir != nil:
			vols[v.Name] = "emptyDir"
		case v.ConfigMap != nil:
			vols[v.Name] = "configMap:" + v.ConfigMap.Name
		case v.PersistentVolumeClaim != nil:
			vols[v.Name] = "pvc:" + v.PersistentVolumeClaim.ClaimName
		}
	}
	script := strings.Join(c.Args, "\n")
	checkScript(t, "shards", script)
	run := regexp.MustCompile(`(?m)^\s*traitleak run (\S+) (.*)$`).FindStringSubmatch(script)
	if run == nil {
		t.Fatalf("the shard script runs no `traitleak run`:\n%s", script)
	}
	if dir, _ := filepath.Split(run[1]); vols[mounts[filepath.Clean(dir)]] != "configMap:traitleak-suite" {
		t.Errorf("the suite %s is not read from the ConfigMap's mount", run[1])
	}
	args := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(run[2], `"$db"`, "/data/shard.db"), `"`, ""))
	cmd := newRunCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("traitleak run %s: %v", run[2], err)
	}
	if db := cmd.Flags().Lookup("db").Value.String(); vols[mounts[filepath.Dir(db)]] != "emptyDir" {
		t.Errorf("--db %s is not on an emptyDir (SQLite's WAL must not be on network storage)", db)
	}
	if cmd.Flags().Changed("shard") {
		t.Errorf("the shard script gives --shard; it must come from JOB_COMPLETION_INDEX")
	}
	if !strings.Contains(script, `mv "/results/.shard-$i.db.tmp" "/results/shard-$i.db"`) || vols[mounts["/results"]] != "pvc:traitleak-results" {
		t.Errorf("the shard script does not rename a copy of its database into the results claim")
	}

	col, ok := docs["Job/traitleak-collect"]
	if !ok {
		t.Fatalf("no collector Job traitleak-collect")
	}
	cc := col.Spec.Template.Spec.Containers
	if len(cc) != 1 {
		t.Fatalf("collector: %d containers; want 1", len(cc))
	}
	cs := strings.Join(cc[0].Args, "\n")
	checkScript(t, "collector", cs)
	for _, want := range []string{"traitleak merge /work/merged.db /work/shard-*.db", "traitleak report --db /work/merged.db"} {
		if !strings.Contains(cs, want) {
			t.Errorf("the collector script lacks %q:\n%s", want, cs)
		}
	}
	for _, e := range cc[0].Env {
		if e.Name == "JOB_COMPLETION_COUNT" && e.Value != strconv.Itoa(n) {
			t.Errorf("the collector waits for %s shards; the Job has %d", e.Value, n)
		}
	}
}

// checkScript has sh parse a container's script without running it.
func checkScript(t *testing.T, name, script string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Logf("no sh: the %s script is not parsed", name)
		return
	}
	cmd := exec.Command(sh, "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the %s script does not parse: %v\n%s", name, err, out)
	}
}

func keys(m map[string]k8sDoc) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
