package acsemulator

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// patternRoute is an endpoint with one {id} path segment.
type patternRoute struct {
	prefix, suffix string
	route
}

func runtimePatterns() []patternRoute {
	read := func(resource string, h func(*Emulator, http.ResponseWriter, *http.Request)) route {
		return route{method: http.MethodGet, resource: resource, access: "READ_ACCESS", runtime: true, handle: h}
	}
	return []patternRoute{
		{"/v1/deployments/", "", read("Deployment", (*Emulator).getDeployment)},
		{"/v1/alerts/", "", read("Alert", (*Emulator).getAlert)},
		{"/v1/processes/deployment/", "/grouped/container", read("DeploymentExtension", (*Emulator).groupedProcesses)},
		{"/v1/clusters/", "", read("Cluster", (*Emulator).getCluster)},
	}
}

func (e *Emulator) matchPattern(p string) (route, bool) {
	for _, pr := range e.patterns {
		if id, ok := pr.id(p); ok && id != "" {
			return pr.route, true
		}
	}
	return route{}, false
}

func (pr patternRoute) id(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, pr.prefix)
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, pr.suffix)
	if !ok || strings.Contains(rest, "/") {
		return "", false
	}
	return rest, true
}

// pathID is the {id} of a request matched by a pattern route.
func (e *Emulator) pathID(r *http.Request) string {
	for _, pr := range e.patterns {
		if id, ok := pr.id(r.URL.Path); ok {
			return id
		}
	}
	return ""
}

// getDeployment is GET /v1/deployments/{id}: 404 until Sensor's report is
// in, and for a token whose scope does not cover the namespace.
func (e *Emulator) getDeployment(w http.ResponseWriter, r *http.Request) {
	id := e.pathID(r)
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	wl, ok := rs.workloads[id]
	if !ok || !rs.visible(wl, time.Now()) || !callerRole(r).sees(wl.Namespace) {
		writeError(w, codeNotFound, fmt.Sprintf("deployment with id '%s' does not exist", id))
		return
	}
	writeJSON(w, r, http.StatusOK, rs.renderDeployment(wl))
}

// listAlerts is GET /v1/alerts: the query (a subset of Central's search
// syntax, with its quirks), RESOLVED hidden unless Violation State is
// named, newest first, at most 1000 without pagination.
func (e *Emulator) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	terms, err := parseQuery(q.Get("query"))
	if err != nil {
		// ListAlerts returns parse errors unwrapped: gRPC Internal, HTTP 500.
		writeError(w, codeInternal, err.Error())
		return
	}
	limit, offset := 1000, 0
	if q.Has("pagination.limit") || q.Has("pagination.offset") {
		limit, _ = strconv.Atoi(q.Get("pagination.limit"))
		offset, _ = strconv.Atoi(q.Get("pagination.offset"))
		if limit <= 0 {
			limit = int(^uint32(0) >> 1)
		}
	}
	ro := callerRole(r)
	rs := e.rt
	rs.mu.Lock()
	var match []*rtAlert
	for _, a := range rs.alerts {
		if ro.sees(a.w.Namespace) && terms.matchAlert(a) {
			match = append(match, a)
		}
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].time.Equal(match[j].time) {
			return match[i].time.After(match[j].time)
		}
		return match[i].id < match[j].id
	})
	out := []obj{}
	for i := max(offset, 0); i < len(match) && len(out) < limit; i++ {
		out = append(out, rs.renderListAlert(match[i]))
	}
	rs.mu.Unlock()
	writeJSON(w, r, http.StatusOK, obj{"alerts": out})
}

// getAlert is GET /v1/alerts/{id}.
func (e *Emulator) getAlert(w http.ResponseWriter, r *http.Request) {
	id := e.pathID(r)
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	a, ok := rs.alerts[id]
	if !ok || !callerRole(r).sees(a.w.Namespace) {
		writeError(w, codeNotFound, fmt.Sprintf("alert with id '%s' does not exist", id))
		return
	}
	writeJSON(w, r, http.StatusOK, rs.renderAlert(a))
}

// processCount is GET /v1/processcount: the stored indicators the query
// selects (only Deployment ID is understood; like Central, other fields are
// dropped and widen the count).
func (e *Emulator) processCount(w http.ResponseWriter, r *http.Request) {
	terms, err := parseQuery(r.URL.Query().Get("query"))
	if err != nil {
		writeError(w, codeInvalidArgument, err.Error())
		return
	}
	ro := callerRole(r)
	rs := e.rt
	rs.mu.Lock()
	now := time.Now()
	n := 0
	for _, wl := range rs.workloads {
		if !ro.sees(wl.Namespace) || !terms.allow("deployment id", wl.UID) {
			continue
		}
		for _, p := range wl.processes {
			if !now.Before(p.stored) {
				n++
			}
		}
	}
	rs.mu.Unlock()
	writeJSON(w, r, http.StatusOK, obj{"count": n})
}

// groupedProcesses is GET /v1/processes/deployment/{id}/grouped/container.
func (e *Emulator) groupedProcesses(w http.ResponseWriter, r *http.Request) {
	id := e.pathID(r)
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	wl, ok := rs.workloads[id]
	now := time.Now()
	if !ok || !rs.visible(wl, now) || !callerRole(r).sees(wl.Namespace) {
		writeError(w, codeNotFound, fmt.Sprintf("deployment with id '%s' does not exist", id))
		return
	}
	type key struct{ container, path string }
	groups := map[key]map[string][]obj{}
	var keys []key
	for _, p := range wl.processes {
		if now.Before(p.stored) {
			continue
		}
		k := key{p.container, p.path}
		if groups[k] == nil {
			groups[k] = map[string][]obj{}
			keys = append(keys, k)
		}
		groups[k][p.args] = append(groups[k][p.args], rs.renderIndicator(wl, p))
	}
	out := []obj{}
	for _, k := range keys {
		var sub []obj
		n := 0
		args := make([]string, 0, len(groups[k]))
		for a := range groups[k] {
			args = append(args, a)
		}
		sort.Strings(args)
		for _, a := range args {
			sub = append(sub, obj{"args": a, "signals": groups[k][a]})
			n += len(groups[k][a])
		}
		out = append(out, obj{"name": k.path, "containerName": k.container, "timesExecuted": n, "groups": sub, "suspicious": false})
	}
	writeJSON(w, r, http.StatusOK, obj{"groups": out})
}

// getCluster is GET /v1/clusters/{id}, with the health Sensor last reported.
func (e *Emulator) getCluster(w http.ResponseWriter, r *http.Request) {
	id := e.pathID(r)
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	c := rs.cluster(id)
	if c == nil {
		writeError(w, codeNotFound, fmt.Sprintf("cluster with id '%s' does not exist", id))
		return
	}
	writeJSON(w, r, http.StatusOK, obj{"cluster": e.renderCluster(c), "clusterRetentionInfo": nil})
}

// queryTerms are the fields of a parsed query, keyed by lower-cased label.
type queryTerms map[string][]string

// parseQuery reads Central's "Field:v1,v2+Field2:v3": "+" separates fields
// only where a "<label>:" follows, "," separates values, labels are
// case-insensitive. Value modifiers (!, r/, tr/, quotes) are not emulated.
func parseQuery(q string) (queryTerms, error) {
	terms := queryTerms{}
	if strings.TrimSpace(q) == "" {
		return terms, nil
	}
	for _, part := range splitQuery(q) {
		label, values, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("query %q: term %q has no field", q, part)
		}
		label = strings.ToLower(strings.TrimSpace(label))
		for _, v := range strings.Split(values, ",") {
			terms[label] = append(terms[label], strings.TrimSpace(v))
		}
	}
	if ids, ok := terms["deployment id"]; ok {
		for _, id := range ids {
			if !isUUID(id) {
				return nil, fmt.Errorf("could not parse uuid %q: invalid UUID format", id)
			}
		}
	}
	return terms, nil
}

func splitQuery(q string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '+' {
			continue
		}
		rest := q[i+1:]
		colon := strings.IndexByte(rest, ':')
		if colon > 0 && !strings.ContainsAny(rest[:colon], ",+") {
			parts = append(parts, q[start:i])
			start = i + 1
		}
	}
	return append(parts, q[start:])
}

// allow reports whether value passes one field's term (an absent field
// passes everything). UUID fields match exactly; others by prefix,
// case-insensitively, as Central's string and enum fields do.
func (t queryTerms) allow(label, value string) bool {
	vs, ok := t[label]
	if !ok {
		return true
	}
	for _, v := range vs {
		if strings.HasSuffix(label, " id") {
			if strings.EqualFold(v, value) {
				return true
			}
		} else if strings.HasPrefix(strings.ToLower(value), strings.ToLower(v)) {
			return true
		}
	}
	return false
}

// matchAlert applies the alert fields the emulator knows; unknown ones are
// dropped, as Central drops them. Without a Violation State term RESOLVED
// alerts are left out.
func (t queryTerms) matchAlert(a *rtAlert) bool {
	if _, named := t["violation state"]; !named && a.state == "RESOLVED" {
		return false
	}
	return t.allow("deployment id", a.w.UID) && t.allow("violation state", a.state) &&
		t.allow("deployment", a.w.Name) && t.allow("namespace", a.w.Namespace) &&
		t.allow("lifecycle stage", a.stage) && t.allow("policy", a.policy.name) &&
		t.allow("severity", a.policy.severity+"_SEVERITY") && t.allow("cluster id", a.w.ClusterID)
}
