package central

import (
	"container/list"
	"sync"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// DefaultCacheBytes bounds the scans kept for reuse, over every Secret's
// client together: a few hundred typical scans, and a small part of the
// controller's memory limit whatever the scans hold.
const DefaultCacheBytes = 32 << 20

// entryOverhead is charged per entry on top of the scan's retained bytes
// (the key, the list element, the map slot), so even empty scans count.
const entryOverhead = 256

// scanCache keeps recent scans for the reuse window, least recently used
// first out once they hold more than max bytes. One cache serves every
// client; a key starts with its client's identity, so a scan is never
// shared between Secrets, and a replaced client's scans are dropped.
type scanCache struct {
	window time.Duration
	max    int64
	now    func() time.Time

	mu    sync.Mutex
	bytes int64
	lru   *list.List // of *cachedScan, most recent at the front
	byKey map[cacheKey]*list.Element
}

type cacheKey struct {
	client *client
	ref    string // cluster + "\x00" + image
}

type cachedScan struct {
	key  cacheKey
	img  *acs.Image
	at   time.Time
	cost int64
}

func newScanCache(window time.Duration, max int64, now func() time.Time) *scanCache {
	if max <= 0 {
		max = DefaultCacheBytes
	}
	return &scanCache{window: window, max: max, now: now, lru: list.New(), byKey: map[cacheKey]*list.Element{}}
}

func (s *scanCache) get(key cacheKey) (*acs.Image, bool) {
	if s.window <= 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	if !ok {
		return nil, false
	}
	hit := e.Value.(*cachedScan)
	if s.now().Sub(hit.at) >= s.window {
		s.remove(e)
		return nil, false
	}
	s.lru.MoveToFront(e)
	return hit.img, true
}

func (s *scanCache) put(key cacheKey, img *acs.Image) {
	cost := img.RetainedBytes() + int64(len(key.ref)) + entryOverhead
	if s.window <= 0 || cost > s.max/4 {
		return // a scan that would push out a quarter of the cache is not kept
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byKey[key]; ok {
		s.remove(e)
	}
	s.byKey[key] = s.lru.PushFront(&cachedScan{key: key, img: img, at: s.now(), cost: cost})
	s.bytes += cost
	now := s.now()
	for e := s.lru.Back(); e != nil && (s.bytes > s.max || now.Sub(e.Value.(*cachedScan).at) >= s.window); e = s.lru.Back() {
		s.remove(e)
	}
}

// forget drops every scan made through cl (its Secret changed).
func (s *scanCache) forget(cl *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e := s.lru.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*cachedScan).key.client == cl {
			s.remove(e)
		}
		e = next
	}
}

// size is the bytes and entries held, for tests.
func (s *scanCache) size() (int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, s.lru.Len()
}

func (s *scanCache) remove(e *list.Element) {
	c := s.lru.Remove(e).(*cachedScan)
	delete(s.byKey, c.key)
	s.bytes -= c.cost
}
