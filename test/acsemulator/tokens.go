package acsemulator

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
)

// role is what one API token may do: its permission set (access per
// resource) and its access scope (the namespaces it may see; none means
// all). Central filters list answers by the scope silently, and answers
// 404 for single objects outside it.
type role struct {
	name       string
	perms      map[string]string
	namespaces []string
}

type roleKey struct{}

// AddToken makes the emulator accept one more API token, with its own
// role: perms as GET /v1/mypermissions reports them (a resource left out
// has NO_ACCESS), and an access scope of namespaces (none: every
// namespace). Tests use it for tokens that may not read alerts, or may not
// see the namespace of a deployment.
func (e *Emulator) AddToken(token string, perms map[string]string, namespaces ...string) {
	token = strings.TrimSpace(token)
	if token == "" {
		panic("acsemulator: AddToken: empty token")
	}
	r := &role{name: "acsemulator role " + stableUUID("role", token)[:8], perms: map[string]string{}, namespaces: append([]string(nil), namespaces...)}
	for k, v := range perms {
		r.perms[k] = v
	}
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	e.tokens[token] = r
}

// authenticate checks "Authorization: Bearer <token>" and returns the
// token's role. The messages are Central's: the errox "credentials not
// found" sentinel, extended by the token extractor when a token was sent
// but did not validate.
func (e *Emulator) authenticate(r *http.Request) (*role, string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, "credentials not found", false
	}
	tok = strings.TrimSpace(tok)
	e.tokensMu.RLock()
	defer e.tokensMu.RUnlock()
	var found *role
	for t, ro := range e.tokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
			found = ro
		}
	}
	if found == nil {
		return nil, "credentials not found: token-based: cannot extract identity: token validation failed", false
	}
	return found, "", true
}

func (ro *role) allowed(resource, access string) bool {
	have := ro.perms[resource]
	return have == "READ_WRITE_ACCESS" || have == access
}

// sees reports whether the role's access scope covers a namespace.
func (ro *role) sees(namespace string) bool {
	return len(ro.namespaces) == 0 || contains(ro.namespaces, namespace)
}

func withRole(r *http.Request, ro *role) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), roleKey{}, ro))
}

// callerRole is the role of the authenticated caller; anonymous calls get
// an empty one.
func callerRole(r *http.Request) *role {
	if ro, ok := r.Context().Value(roleKey{}).(*role); ok {
		return ro
	}
	return &role{perms: map[string]string{}}
}
