package suites

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// fileTree lays out a suite directory with neighbours it must not read:
//
//	root/outside/secret.txt       a file beside the suite's directory
//	root/suite/prompts.txt        the suite's own prompts
//	root/suite/sub/more.txt       a file below the suite's directory
//	root/suite/link-in            → prompts.txt
//	root/suite/link-out           → ../outside/secret.txt
//	root/suite/dir-out            → ../outside
//	root/suite/fifo               a named pipe
//	root/suite/adir/              a directory
//	root/suite/binary.txt         a file with NUL bytes
//	root/suite/bom.txt            a file with a UTF-8 byte order mark
//
// and returns root.
func fileTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"outside", "suite/sub", "suite/adir"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"outside/secret.txt": "root:secret\n",
		"suite/prompts.txt":  "Name an animal.\n",
		"suite/sub/more.txt": "Name a tree.\n",
		"suite/binary.txt":   "Name\x00an animal.\n",
		"suite/bom.txt":      "\ufeffName a bird.\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"suite/link-in":  "prompts.txt",
		"suite/link-out": "../outside/secret.txt",
		"suite/dir-out":  "../outside",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Skipf("symbolic links: %v", err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "suite/fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return root
}

// promptFileSuite is a suite whose one probe reads its prompts from file;
// the file: value is at line 3, column 34.
func promptFileSuite(file string) string {
	return fmt.Sprintf("name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: {file: %q}, samples: 1, score: {mentions: owl}}]\n", file)
}

func TestPromptFileConfinement(t *testing.T) {
	root := fileTree(t)
	suiteDir := filepath.Join(root, "suite")
	outside := filepath.Join(root, "outside")
	secret := filepath.Join(outside, "secret.txt")
	tests := []struct {
		name   string
		file   string
		allow  []string
		want   []string // prompts, when the file is read
		errMsg string   // else a substring of the error
	}{
		// The suite's own files, below its directory or through a link
		// that stays inside, are read as before.
		{name: "own file", file: "prompts.txt", want: []string{"Name an animal."}},
		{name: "subdirectory", file: "sub/more.txt", want: []string{"Name a tree."}},
		{name: "absolute inside", file: filepath.Join(suiteDir, "sub/more.txt"), want: []string{"Name a tree."}},
		{name: "link inside", file: "link-in", want: []string{"Name an animal."}},
		// ".." that comes back inside is inside.
		{name: "dot-dot back in", file: "sub/../prompts.txt", want: []string{"Name an animal."}},
		// A UTF-8 byte order mark is not part of the first prompt.
		{name: "byte order mark", file: "bom.txt", want: []string{"Name a bird."}},

		// Escapes: by "..", by an absolute path, by a link to a file or
		// through a linked directory. The message says how to allow it.
		{name: "dot-dot escape", file: "../outside/secret.txt",
			errMsg: "../outside/secret.txt is outside the suite's directory " + suiteDir + "; to read it, allow its directory with --allow-files " + outside},
		{name: "etc passwd", file: "../../../../../../etc/passwd", errMsg: "is outside the suite's directory"},
		{name: "absolute outside", file: secret, errMsg: secret + " is outside the suite's directory"},
		{name: "link out", file: "link-out", errMsg: "link-out resolves to " + secret + ", outside the suite's directory"},
		{name: "linked directory", file: "dir-out/secret.txt", errMsg: "dir-out/secret.txt resolves to " + secret + ", outside"},
		{name: "device", file: "/dev/zero", errMsg: "/dev/zero is outside the suite's directory"},

		// --allow-files opens a directory, links resolved.
		{name: "allowed dot-dot", file: "../outside/secret.txt", allow: []string{outside}, want: []string{"root:secret"}},
		{name: "allowed link", file: "link-out", allow: []string{outside}, want: []string{"root:secret"}},
		{name: "allowed absolute", file: secret, allow: []string{outside}, want: []string{"root:secret"}},
		{name: "allowed elsewhere", file: secret, allow: []string{filepath.Join(root, "suite/sub")}, errMsg: "is outside the suite's directory"},

		// Only regular text files: a device, FIFO (without waiting for a
		// writer) or directory is refused, and so is binary data.
		{name: "allowed device", file: "/dev/zero", allow: []string{"/dev"}, errMsg: "/dev/zero is a device; want a regular text file"},
		{name: "fifo", file: "fifo", errMsg: "fifo is a FIFO; want a regular text file"},
		{name: "directory", file: "adir", errMsg: "adir is a directory; want a regular text file"},
		{name: "binary", file: "binary.txt", errMsg: "binary.txt:1:5: not a text file: a NUL byte"},
		{name: "missing", file: "gone.txt", errMsg: "read prompts: open " + filepath.Join(suiteDir, "gone.txt") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(suiteDir, "suite.yaml")
			if err := os.WriteFile(path, []byte(promptFileSuite(tt.file)), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Loader{AllowFiles: tt.allow}.Open(path, nil)
			if tt.errMsg == "" {
				if err != nil {
					t.Fatalf("Loader{AllowFiles: %q}.Open(suite with file %q) error = %v", tt.allow, tt.file, err)
				}
				if got := s.Probes[0].Prompts.Texts; !slices.Equal(got, tt.want) {
					t.Errorf("Loader{AllowFiles: %q}.Open(suite with file %q) prompts = %q; want %q", tt.allow, tt.file, got, tt.want)
				}
				return
			}
			// Errors point at the file: value (line 3, column 34).
			checkSuiteError(t, fmt.Sprintf("Loader{AllowFiles: %q}.Open(suite with file %q)", tt.allow, tt.file), err, errorTest{
				file: path, pos: "3:34", field: "probes[0].prompts.file", msg: tt.errMsg,
			})
		})
	}
}

func TestPromptFileOverride(t *testing.T) {
	// A --set that names a file is confined like the file's own text,
	// and its error is located at the override.
	root := fileTree(t)
	path := filepath.Join(root, "suite", "suite.yaml")
	if err := os.WriteFile(path, []byte(promptFileSuite("prompts.txt")), 0o644); err != nil {
		t.Fatal(err)
	}
	set := "probes.p.prompts={file: ../outside/secret.txt}"
	_, err := Open(path, []string{set})
	if err == nil || !strings.HasPrefix(err.Error(), "--set "+set+": probes[0].prompts.file: read prompts: ../outside/secret.txt is outside") {
		t.Errorf("Open(suite, --set %s) error = %v; want it located at the override, saying the file is outside", set, err)
	}
}

func TestReadSuiteFileLimit(t *testing.T) {
	// The size cap: a file of exactly limit bytes is read, one more
	// byte is refused with the limit in the message.
	dir := t.TempDir()
	write := func(name string, n int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("a\n", n/2)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 2 << 20 // 2 MiB
	write("at.txt", limit)
	write("over.txt", limit+2)
	if b, err := readSuiteFile("at.txt", dir, nil, limit); err != nil || len(b) != limit {
		t.Errorf("readSuiteFile(%d-byte file, limit %d) = %d bytes, %v; want all of it", limit, limit, len(b), err)
	}
	_, err := readSuiteFile("over.txt", dir, nil, limit)
	want := "over.txt is larger than 2 MiB (2097152 bytes), the limit for a file a suite reads"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("readSuiteFile(%d-byte file, limit %d) error = %v; want %q", limit+2, limit, err, want)
	}
}
