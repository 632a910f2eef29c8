package gate

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Allow accepts one CVE until a date, for a stated reason: an exception
// that ends by itself, so nobody has to remember to remove it.
type Allow struct {
	CVE     string    `json:"cve"`
	Expires time.Time `json:"expires"` // the last day it holds, at 23:59:59 UTC
	Reason  string    `json:"reason"`
}

var cveID = regexp.MustCompile(`^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|RHSA-\d{4}:\d{4,})$`)

// ParseAllow reads "CVE-2024-3094,2026-12-31,reason": the id, the last day
// the exception holds (YYYY-MM-DD), and a reason (which may contain commas).
// All three are required.
func ParseAllow(s string) (Allow, error) {
	parts := strings.SplitN(s, ",", 3)
	if len(parts) != 3 || strings.TrimSpace(parts[2]) == "" {
		return Allow{}, fmt.Errorf("%q: want CVE-ID,YYYY-MM-DD,reason (all three)", short(s))
	}
	id := strings.TrimSpace(parts[0])
	if !cveID.MatchString(id) {
		return Allow{}, fmt.Errorf("%q: not a CVE, GHSA or RHSA id", short(id))
	}
	day, err := time.Parse(time.DateOnly, strings.TrimSpace(parts[1]))
	if err != nil {
		return Allow{}, fmt.Errorf("%s: expiry %q: want YYYY-MM-DD", id, short(parts[1]))
	}
	return Allow{CVE: id, Expires: day.Add(24*time.Hour - time.Second), Reason: strings.TrimSpace(parts[2])}, nil
}

// allowed finds an unexpired allowance for a CVE.
func allowed(p ScanPolicy, cve string) (Allow, bool) {
	for _, a := range p.Allow {
		if strings.EqualFold(a.CVE, cve) && !p.Now.After(a.Expires) {
			return a, true
		}
	}
	return Allow{}, false
}
