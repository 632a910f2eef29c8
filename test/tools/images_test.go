package tools

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"testing"
)

// The image cache is keyed by the base's digest, so the layer must not
// depend on when or where it is built.
func TestBusyboxLayerDeterministic(t *testing.T) {
	applets := []string{"bin/sh", "usr/bin/env", "sbin/ip"}
	a, err := busyboxLayer([]byte("not really busybox"), applets)
	if err != nil {
		t.Fatal(err)
	}
	b, err := busyboxLayer([]byte("not really busybox"), slices.Clone(applets))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same layer differ")
	}

	var names []string
	modes := map[string]int64{}
	links := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		modes[h.Name] = h.Mode
		links[h.Name] = h.Linkname
		if h.Uname != "" || h.ModTime.Unix() != 0 {
			t.Errorf("%s: uname %q, mtime %v; want none and the epoch", h.Name, h.Uname, h.ModTime)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	for _, want := range []string{"bin/", "bin/busybox", "bin/sh", "etc/passwd", "sbin/", "tmp/", "usr/", "usr/bin/", "usr/bin/env"} {
		if !slices.Contains(names, want) {
			t.Errorf("layer lacks %s; has %v", want, names)
		}
	}
	if links["bin/sh"] != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, want /bin/busybox", links["bin/sh"])
	}
	if modes["tmp/"] != 0o1777 {
		t.Errorf("tmp/ mode %o, want 1777 (writable by any user)", modes["tmp/"])
	}
}

func TestKoRefs(t *testing.T) {
	out := "127.0.0.1:5000/tekton/nop@sha256:aa\n127.0.0.1:5000/tekton/entrypoint@sha256:bb\n"
	got, err := koRefs(out, "127.0.0.1:5000/tekton", []string{"github.com/x/cmd/entrypoint", "./cmd/nop"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:5000/tekton/entrypoint@sha256:bb", "127.0.0.1:5000/tekton/nop@sha256:aa"}
	if !slices.Equal(got, want) {
		t.Errorf("koRefs = %v, want %v", got, want)
	}
	tagged := "10.244.0.1:5000/mg/controller:v0.2.0@sha256:cc\n"
	if got, err := koRefs(tagged, "10.244.0.1:5000/mg", []string{"./cmd/controller"}); err != nil || got[0] != "10.244.0.1:5000/mg/controller:v0.2.0@sha256:cc" {
		t.Errorf("koRefs of a tagged release = %v, %v", got, err)
	}
	if _, err := koRefs(out, "127.0.0.1:5000/tekton", []string{"./cmd/missing"}); err == nil {
		t.Error("koRefs found an image ko did not print")
	}
}
