package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeBlocks are the README's fenced blocks whose info string is exactly "sh" (the
// walk-through; "sh norun" blocks need make, docker or a long time).
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?ms)^```sh\n(.*?)^```$").FindAllStringSubmatch(string(b), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// TestREADMEWalkThrough builds the binary (version-stamped like the Makefile does), starts
// serve on a free port with a fresh data dir, and runs the README's sh blocks in order
// with bash: curl -f and jq -e make an unexpected answer a failure.
func TestREADMEWalkThrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (.ci/run installs curl and jq)", tool)
			}
			t.Skipf("%s is not installed: the README walk-through needs curl and jq; skipping", tool)
		}
	}
	blocks := readmeBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("found %d sh blocks in README.md, want the walk-through's 3 or more", len(blocks))
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin", "orderengine")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=readme-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || string(out) != "orderengine readme-test\n" {
		t.Fatalf("version of a stamped binary: %q %v", out, err)
	}
	dataDir := filepath.Join(work, "data")
	addr := freeAddr(t)
	var serverLog lockedBuffer // written by the server's output copier while the test reads it
	srv := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	waitReady(t, "http://"+addr, &serverLog)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, b := range blocks {
		script.WriteString("echo '### README sh block " + string(rune('1'+i)) + "' >&2\nset -x\n" + b + "set +x\n")
	}
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = work
	sh.Env = append(os.Environ(), "B=http://"+addr, "ORDERENGINE_DATA_DIR="+dataDir)
	var out bytes.Buffer
	sh.Stdout, sh.Stderr = &out, &out
	if err := sh.Run(); err != nil {
		t.Fatalf("README blocks failed: %v\n%s\n--- server log:\n%s", err, out.String(), serverLog.String())
	}
	if !strings.Contains(out.String(), "OK: ") || strings.Count(out.String(), "true\n") < 2 {
		t.Fatalf("README blocks ran without the expected answers:\n%s", out.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitReady(t *testing.T, base string, log fmt.Stringer) {
	t.Helper()
	for i := 0; i < 200; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server at %s never got ready:\n%s", base, log.String())
}
