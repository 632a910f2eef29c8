package buildtest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shaPass hashes every file of the model once with crypto/sha256 (what
// the builder uses), on one locked thread, and returns that thread's CPU
// time: hashing the mapped pages alone (the least any builder must spend),
// and reading with read(2) into a buffer then hashing (what sha256sum
// does).
func shaPass(t *testing.T, files []string) (mapped, read time.Duration) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const thread = 1 // RUSAGE_THREAD
	start := rusageCPU(thread)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Stat()
		m, err := syscall.Mmap(int(f.Fd()), 0, int(info.Size()), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
		if err != nil {
			t.Fatal(err)
		}
		sha256.Sum256(m)
		syscall.Munmap(m)
		f.Close()
	}
	mapped = rusageCPU(thread) - start
	start = rusageCPU(thread)
	buf := make([]byte, 1<<20)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, f, buf); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return mapped, rusageCPU(thread) - start
}

// blob is one layer blob of a built image, saved as a file.
type blob struct {
	digest string
	path   string
	size   int64
}

// saveBlobs downloads the model layers of a build into dir, so the floor
// can send the very same bytes without building anything.
func saveBlobs(t *testing.T, host, repo, dir string, res buildOutput) []blob {
	t.Helper()
	var out []blob
	for i, l := range res.Layers {
		resp, err := http.Get("http://" + host + "/v2/" + repo + "/blobs/" + l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		b := blob{digest: l.Digest, path: filepath.Join(dir, fmt.Sprintf("layer-%d", i)), size: l.Size}
		f, err := os.Create(b.path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(f, resp.Body)
		resp.Body.Close()
		f.Close()
		if err != nil || n != l.Size || resp.StatusCode != http.StatusOK {
			t.Fatalf("blob %s: %d of %d bytes, %s, %v", l.Digest, n, l.Size, resp.Status, err)
		}
		out = append(out, b)
	}
	return out
}

// uploadFloor sends already-hashed blobs to a registry the cheapest way a
// client can, all at once: POST, then PUT ?digest= with the file as the
// body, which net/http sends with sendfile. Nothing is read or hashed on
// this side; it is what the registry alone costs.
func uploadFloor(t *testing.T, host, repo string, blobs []blob) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	errs := make([]error, len(blobs))
	var wg sync.WaitGroup
	for i, b := range blobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = putBlob(client, host, repo, b)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func putBlob(client *http.Client, host, repo string, b blob) error {
	resp, err := client.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", b.digest)
	loc.RawQuery = q.Encode()
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	req, err := http.NewRequest(http.MethodPut, loc.String(), f)
	if err != nil {
		return err
	}
	req.ContentLength = b.size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %s", b.digest, resp.Status)
	}
	return nil
}
