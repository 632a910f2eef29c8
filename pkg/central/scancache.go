package central

import (
	"sync"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// scanCache keeps one client's scans for the reuse window.
type scanCache struct {
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	scans map[string]cachedScan
}

type cachedScan struct {
	img *acs.Image
	at  time.Time
}

func newScanCache(window time.Duration, now func() time.Time) *scanCache {
	return &scanCache{window: window, now: now, scans: map[string]cachedScan{}}
}

func (s *scanCache) get(key string) (*acs.Image, bool) {
	if s.window <= 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hit, ok := s.scans[key]
	if !ok || s.now().Sub(hit.at) >= s.window {
		return nil, false
	}
	return hit.img, true
}

func (s *scanCache) put(key string, img *acs.Image) {
	if s.window <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, hit := range s.scans { // keep the cache to the window
		if now.Sub(hit.at) >= s.window {
			delete(s.scans, k)
		}
	}
	s.scans[key] = cachedScan{img: img, at: now}
}
