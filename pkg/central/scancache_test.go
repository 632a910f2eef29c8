package central

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// scanOf decodes a scan holding about n bytes of component names, so its
// RetainedBytes is what the decoder counted, as in the controller.
func scanOf(t *testing.T, id string, n int) *acs.Image {
	t.Helper()
	img, err := acs.DecodeImage(strings.NewReader(fmt.Sprintf(`{"id":%q,"scan":{"components":[{"name":%q}]}}`, id, strings.Repeat("n", n))))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The cache holds at most its byte budget over all clients, least
// recently used out first; entries expire after the window; a replaced
// client's scans go; a scan too large for the cache is not kept.
func TestScanCacheIsBoundedInBytes(t *testing.T) {
	now := time.Unix(0, 0)
	c := newScanCache(10*time.Minute, 64<<10, func() time.Time { return now })
	a, b := &client{}, &client{}
	key := func(cl *client, i int) cacheKey { return cacheKey{client: cl, ref: fmt.Sprintf("\x00img@%d", i)} }

	for i := range 20 {
		c.get(key(a, 0)) // 0 is used all along: it outlives the others
		c.put(key(a, i), scanOf(t, fmt.Sprint(i), 8<<10))
	}
	bytes, n := c.size()
	if bytes > 64<<10 || n == 0 || n >= 20 {
		t.Fatalf("cache holds %d bytes in %d entries, budget 64 KiB", bytes, n)
	}
	if _, ok := c.get(key(a, 19)); !ok {
		t.Error("the newest scan was evicted")
	}
	if _, ok := c.get(key(a, 1)); ok {
		t.Error("the least recently used scan was kept")
	}
	if _, ok := c.get(key(a, 0)); !ok {
		t.Error("a recently used scan was evicted before older ones")
	}

	// Never shared between clients (Secrets).
	if _, ok := c.get(key(b, 19)); ok {
		t.Error("another Secret's client got the scan")
	}
	c.put(key(b, 19), scanOf(t, "b", 10))

	// A scan as large as a quarter of the cache is not kept at all.
	c.put(key(a, 99), scanOf(t, "huge", 20<<10))
	if _, ok := c.get(key(a, 99)); ok {
		t.Error("an oversized scan was cached")
	}

	c.forget(a)
	if _, n := c.size(); n != 1 {
		t.Errorf("after forgetting a client, %d entries remain, want b's one", n)
	}
	now = now.Add(10 * time.Minute)
	if _, ok := c.get(key(b, 19)); ok {
		t.Error("a scan outlived the reuse window")
	}
	if bytes, n := c.size(); bytes != 0 || n != 0 {
		t.Errorf("empty cache holds %d bytes in %d entries", bytes, n)
	}
}
