package buildtest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/modelguard/modelguard/test/ociregistry"
)

const (
	shards    = 4
	shardSize = 256 << 20
	totalSize = shards * shardSize
)

// TestBenchBuild prints the build figures; it asserts nothing about time.
// `make bench` runs it with MODELGUARD_BENCH=1.
func TestBenchBuild(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") == "" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench) to run the benchmark")
	}
	reg := ociregistry.StartDistribution(t)
	base := pushBaseTo(t, reg.Host)
	bin := modelguardBinary(t)
	work := t.TempDir()
	model := filepath.Join(work, "granite-1g")
	writeModel(t, model, map[string]string{"config.json": `{"architectures":["GraniteForCausalLM"]}`, "tokenizer.json": "{}"})
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := 1; i <= shards; i++ {
		writeRandom(t, filepath.Join(model, fmt.Sprintf("model-%05d-of-%05d.safetensors", i, shards)), rng)
	}
	cache := filepath.Join(work, "digest-cache")
	// Generating the model leaves a GiB of dirty pages; flush them so the
	// build is not timed against the kernel writing them back.
	syscall.Sync()

	first, rss := timeBuild(t, bin, model, base, reg.Host+"/models/granite:1", cache)
	report("modelguard build + push of a 1 GiB model (4 x 256 MiB shards) to a local registry (CNCF distribution on tmpfs): %s, %.0f MB/s end to end, peak RSS %.1f MiB (target >= 500 MB/s: %s; RSS <= 100 MiB: %s)",
		first.Round(time.Millisecond), mbps(first), float64(rss)/(1<<20), verdict(mbps(first) >= 500), verdict(rss <= 100<<20))

	writeRandom(t, filepath.Join(model, "model-00003-of-00004.safetensors"), rng)
	syscall.Sync()
	again, _ := timeBuild(t, bin, model, base, reg.Host+"/models/granite:2", cache)
	report("rebuild with one shard changed: %s, %.1fx faster than the first build (target >= 3x: %s)",
		again.Round(time.Millisecond), float64(first)/float64(again), verdict(float64(first)/float64(again) >= 3))

	tarPath := filepath.Join(work, "model.tar")
	writeModelTar(t, model, tarPath)
	start := time.Now()
	baseImg, err := crane.Pull(base, crane.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := crane.Append(baseImg, tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(img, reg.Host+"/models/granite-crane:1", crane.Insecure); err != nil {
		t.Fatal(err)
	}
	craneTime := time.Since(start)
	report("crane append (gzip, one layer) + push of the same 1 GiB: %s, %.0f MB/s; modelguard is %.1fx faster (target >= 10x: %s)",
		craneTime.Round(time.Millisecond), mbps(craneTime), float64(craneTime)/float64(first), verdict(float64(craneTime)/float64(first) >= 10))
}

func pushBaseTo(t *testing.T, host string) string {
	t.Helper()
	return pushBase(t, &ociregistry.Registry{Host: host})
}

// writeRandom writes a shard that looks like real weights to a
// compressor: bfloat16 values drawn from N(0, 0.02), as after typical
// initialisation or training, so gzip (crane) does the work it would do
// on a real model rather than giving up on random bytes. A 16 MiB block
// is drawn and repeated; gzip's 32 KiB window never sees the repetition.
func writeRandom(t *testing.T, path string, rng *rand.Rand) {
	t.Helper()
	block := make([]byte, 16<<20)
	for i := 0; i < len(block); i += 2 {
		bits := math.Float32bits(float32(rng.NormFloat64() * 0.02))
		block[i], block[i+1] = byte(bits>>16), byte(bits>>24)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for written := 0; written < shardSize; written += len(block) {
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
}

// timeBuild runs `modelguard build` as its own process and returns its
// wall time and peak RSS.
func timeBuild(t *testing.T, bin, model, base, target, cache string) (time.Duration, int64) {
	t.Helper()
	cmd := exec.Command(bin, "build", "--model", model, "--base", base, "--target", target,
		"--runtime", "vllm", "--cache-dir", cache, "--source-date-epoch", "0", "-o", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("modelguard build: %v\n%s", err, errb.String())
	}
	wall := time.Since(start)
	var res struct{ IMAGE_DIGEST string }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.IMAGE_DIGEST == "" {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, ru.Maxrss * 1024
}

// writeModelTar writes the model as one plain tar, what `crane append -f`
// would be given.
func writeModelTar(t *testing.T, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if err := tw.WriteHeader(&tar.Header{Name: "models/" + e.Name(), Mode: 0o444, Size: info.Size(), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func mbps(d time.Duration) float64 { return float64(totalSize) / 1e6 / d.Seconds() }

func report(format string, args ...any) { fmt.Printf("bench: "+format+"\n", args...) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
