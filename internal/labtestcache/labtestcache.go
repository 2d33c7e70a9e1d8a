// Package labtestcache gives the test binaries of one `go test` run a lab
// artifact cache they share. The lab's artifacts are content-addressed
// (lab.Config.CacheDir), so a stage that the lab package's tests and the
// command's tests both build (the animal lab's seeds 1 and 2, soft and
// hard) is trained once per `go test` run instead of once per binary;
// every run still trains what it tests from scratch.
//
// The directory is os.TempDir()/traitleak-lab-test-cache-UID/SCOPE-FP:
//
//   - SCOPE names the go command that runs the binary (its pid and start
//     time): binaries of one `go test` run share the directory, and the
//     next run starts from an empty one.
//   - FP is a fingerprint of what an artifact can depend on beyond its
//     key: the SHA-256 of every file (but _test.go files and testdata
//     directories) of the module's packages in the import closure of the
//     package Open is given (the lab), go.mod, go.sum, the Go version and
//     the binary's build settings (GOARCH, -race, flags). Binaries built
//     from different code use different directories.
//
// Stale artifacts: a binary whose source files changed after it was
// linked (a file newer than the binary) cannot know which code it holds,
// and gets a private directory; a run never reads another run's
// directory. Not caught: a file edited while `go test` builds, after one
// binary's packages were compiled and before it was linked; that binary's
// artifacts can then reach the other binaries of that run only.
//
// Concurrency: each binary holds a shared flock on the directory's
// users.lock while it runs, and Lock takes build.lock exclusively (and a
// mutex of the binary), so one build runs at a time across the binaries:
// the second loads what the first trained. The lab writes every artifact
// atomically and checks its payload's hash when loading, so a reader never
// sees half an artifact.
//
// Removal: Open removes the directories of go commands that have exited
// and that no binary holds, so what remains are the directories of the
// `go test` runs still going and of those that ended since the last Open
// (a few MB each: 14 MB for cmd/traitleak's tests). Removing
// os.TempDir()/traitleak-lab-test-cache-UID while no test runs is always
// safe.
//
// Elsewhere than Linux, under a runner other than the go command, without
// the module's source, or when the shared directory cannot be made safely
// (another owner, open permissions), Open returns a private directory that
// Close removes: a cache of this binary alone, as before.
package labtestcache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cache is a lab artifact directory for the tests of one binary.
type Cache struct {
	// Dir is the artifact directory (lab.Config.CacheDir).
	Dir string
	// Shared reports whether Dir is shared with the other binaries of
	// this `go test` run; false means a private directory that Close
	// removes.
	Shared bool
	// Why says why the directory is private; empty when Shared.
	Why string

	mu    sync.Mutex // serialises Lock within the binary
	users *os.File   // holds a shared flock while the cache is open
}

// Open returns the cache for the tests of this binary, whose artifacts
// come from the code of the package with import path root and its
// dependencies in the module. Close it when the tests end.
func Open(root string) (*Cache, error) {
	c, why, err := openShared(root)
	if err != nil {
		return nil, err
	}
	if c != nil {
		return c, nil
	}
	dir, err := os.MkdirTemp("", "traitleak-lab-test-")
	if err != nil {
		return nil, fmt.Errorf("lab test cache: %w", err)
	}
	return &Cache{Dir: dir, Why: why}, nil
}

// Lock waits until no other build runs in this binary or, for a shared
// cache, in any binary, and returns the function that ends the hold.
func (c *Cache) Lock() (unlock func(), err error) {
	c.mu.Lock()
	if !c.Shared {
		return c.mu.Unlock, nil
	}
	f, err := lockFile(filepath.Join(c.Dir, "build.lock"), true)
	if err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("lab test cache: build lock: %w", err)
	}
	return func() {
		f.Close() // releases the flock
		c.mu.Unlock()
	}, nil
}

// Close ends this binary's use of the cache: it removes a private
// directory and leaves a shared one to the other binaries of the run (a
// later Open removes it once the run is over).
func (c *Cache) Close() error {
	if !c.Shared {
		return os.RemoveAll(c.Dir)
	}
	return c.users.Close()
}

// Fingerprint returns the hex SHA-256 of what the artifacts built by the
// code of package root can depend on (see the package doc) and the
// latest modification time of the files it read. modRoot is the module's
// directory.
func Fingerprint(modRoot, root string) (string, time.Time, error) {
	modPath, err := modulePath(modRoot)
	if err != nil {
		return "", time.Time{}, err
	}
	dirs, err := importClosure(modRoot, modPath, root)
	if err != nil {
		return "", time.Time{}, err
	}
	h := sha256.New()
	var latest time.Time
	add := func(rel string, path string, fi fs.FileInfo) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("fingerprint: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
		if fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
		return nil
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		p := filepath.Join(modRoot, name)
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", time.Time{}, fmt.Errorf("fingerprint: %w", err)
		}
		if err := add(name, p, fi); err != nil {
			return "", time.Time{}, err
		}
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(modRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != filepath.Join(modRoot, dir) && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(modRoot, path)
			return add(rel, path, fi)
		})
		if err != nil {
			return "", time.Time{}, fmt.Errorf("fingerprint %s: %w", dir, err)
		}
	}
	fmt.Fprintf(h, "go\x00%s\x00%s/%s\x00", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		// Not bi.Deps: each binary lists the modules it links, and go.sum
		// already fixes the versions of those the lab can use.
		for _, s := range bi.Settings {
			fmt.Fprintf(h, "%s=%s\x00", s.Key, s.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), latest, nil
}

// modulePath reads the module path from modRoot/go.mod.
func modulePath(modRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(modRoot, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`), nil
		}
	}
	return "", fmt.Errorf("fingerprint: %s has no module line", filepath.Join(modRoot, "go.mod"))
}

// importClosure returns the directories, relative to modRoot and sorted,
// of the module's packages that root imports directly or not, root
// included, from the import lines of their non-test Go files (whatever
// their build constraints: more files than one build uses, never fewer).
func importClosure(modRoot, modPath, root string) ([]string, error) {
	seen := map[string]bool{}
	var dirs []string
	queue := []string{root}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if seen[pkg] {
			continue
		}
		seen[pkg] = true
		rel, ok := strings.CutPrefix(pkg, modPath)
		if !ok || (rel != "" && rel[0] != '/') {
			return nil, fmt.Errorf("fingerprint: %s is not in module %s", pkg, modPath)
		}
		dir := filepath.FromSlash(strings.TrimPrefix(rel, "/"))
		if dir == "" {
			dir = "."
		}
		dirs = append(dirs, dir)
		ents, err := os.ReadDir(filepath.Join(modRoot, dir))
		if err != nil {
			return nil, fmt.Errorf("fingerprint: package %s: %w", pkg, err)
		}
		files := 0
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			files++
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(modRoot, dir, name), nil, parser.ImportsOnly)
			if err != nil {
				return nil, fmt.Errorf("fingerprint: %w", err)
			}
			for _, imp := range f.Imports {
				p, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					return nil, fmt.Errorf("fingerprint: %s: import %s: %w", name, imp.Path.Value, err)
				}
				if p == modPath || strings.HasPrefix(p, modPath+"/") {
					queue = append(queue, p)
				}
			}
		}
		if files == 0 {
			return nil, fmt.Errorf("fingerprint: package %s has no Go files in %s", pkg, dir)
		}
	}
	slices.Sort(dirs)
	return dirs, nil
}

// findModRoot returns the directory of the go.mod enclosing the working
// directory (go test runs a binary in its package's directory).
func findModRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
