package acsemulator

import (
	"fmt"
	"regexp"
	"strings"
)

// RuntimePolicy is a RUNTIME process policy, as Sensor evaluates them: every
// process reported with Exec (or seen by WatchDeployments) is matched
// against each enabled one, and a match raises or merges an alert.
type RuntimePolicy struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Rationale   string   `json:"rationale,omitempty"`
	Remediation string   `json:"remediation,omitempty"`
	Severity    string   `json:"severity"` // LOW, MEDIUM, HIGH or CRITICAL
	Categories  []string `json:"categories,omitempty"`
	// Enforcement is KILL_POD_ENFORCEMENT or none. Sensor kills the pod
	// and the alert counts the pods killed.
	Enforcement Actions `json:"enforcement,omitempty"`
	Disabled    bool    `json:"disabled,omitempty"`
	// ExcludeNamespaces are not watched by the policy (Central's default
	// exclusions: kube-system, openshift-*, ...; a trailing * is a prefix).
	ExcludeNamespaces []string `json:"excludeNamespaces,omitempty"`
	// Match is the process rule; every set condition must hold.
	Match ProcessRule `json:"match"`
}

// ProcessRule matches one process.
type ProcessRule struct {
	// ProcessName is a regular expression on the executable's base name
	// (signal.name), matched whole, as Central's "Process Name".
	ProcessName string `json:"processName,omitempty"`
	// ExecPath is a regular expression on the whole executable path.
	ExecPath string `json:"execPath,omitempty"`
	// Args is a regular expression found anywhere in the arguments.
	Args string `json:"args,omitempty"`
	// UID matches the process's user id.
	UID *uint32 `json:"uid,omitempty"`
}

// ClusterData is one secured cluster. Deployments belong to the first
// cluster unless they name another.
type ClusterData struct {
	// ID is a UUID; Central's cluster ids are.
	ID   string `json:"id"`
	Name string `json:"name"`
	// SensorHealth and CollectorHealth are HEALTHY (default), DEGRADED,
	// UNHEALTHY, UNAVAILABLE (collector only) or UNINITIALIZED.
	SensorHealth    string `json:"sensorHealth,omitempty"`
	CollectorHealth string `json:"collectorHealth,omitempty"`
}

var (
	runtimeActions = []string{"KILL_POD_ENFORCEMENT"}
	healthStatuses = []string{"HEALTHY", "DEGRADED", "UNHEALTHY", "UNAVAILABLE", "UNINITIALIZED"}
)

// defaultCluster is used when the data file names none.
var defaultCluster = ClusterData{ID: "6f9d4c1e-2b7a-4e3f-9c8d-1a2b3c4d5e6f", Name: "local", SensorHealth: "HEALTHY", CollectorHealth: "HEALTHY"}

func (p RuntimePolicy) validate(path string) error {
	if strings.TrimSpace(p.Name) == "" {
		return fmt.Errorf("%s.name: required", path)
	}
	if err := oneOf(path+".severity", p.Severity, policySevs); err != nil {
		return err
	}
	for i, a := range p.Enforcement {
		if err := oneOf(fmt.Sprintf("%s.enforcement[%d]", path, i), a, runtimeActions); err != nil {
			return err
		}
	}
	m := p.Match
	if m.ProcessName == "" && m.ExecPath == "" && m.Args == "" && m.UID == nil {
		return fmt.Errorf("%s.match: set at least one of processName, execPath, args, uid", path)
	}
	for field, re := range map[string]string{"processName": m.ProcessName, "execPath": m.ExecPath, "args": m.Args} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("%s.match.%s: %v", path, field, err)
		}
	}
	return nil
}

func (c ClusterData) validate(path string) error {
	if !isUUID(c.ID) {
		return fmt.Errorf("%s.id: %q is not a UUID", path, c.ID)
	}
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("%s.name: required", path)
	}
	for field, v := range map[string]string{"sensorHealth": c.SensorHealth, "collectorHealth": c.CollectorHealth} {
		if v != "" {
			if err := oneOf(path+"."+field, v, healthStatuses); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateRuntime checks the runtime part of the data.
func (d Data) validateRuntime() error {
	names := map[string]bool{}
	for _, p := range append(append([]Policy{}, d.BuildPolicies...), d.DeployPolicies...) {
		names[p.Name] = true
	}
	for i, p := range d.RuntimePolicies {
		path := fmt.Sprintf("runtimePolicies[%d]", i)
		if err := p.validate(path); err != nil {
			return err
		}
		if names[p.Name] {
			return fmt.Errorf("%s.name: %q is already used by another policy", path, p.Name)
		}
		names[p.Name] = true
	}
	ids := map[string]bool{}
	for i, c := range d.Clusters {
		path := fmt.Sprintf("clusters[%d]", i)
		if err := c.validate(path); err != nil {
			return err
		}
		if ids[c.ID] {
			return fmt.Errorf("%s.id: %s is already used", path, c.ID)
		}
		ids[c.ID] = true
	}
	return nil
}

// compiledPolicy is a RuntimePolicy ready to match.
type compiledPolicy struct {
	RuntimePolicy
	id                  string
	name, path, argsRe  *regexp.Regexp
	excluded, exclPrefx []string
}

func compileRuntime(p RuntimePolicy) *compiledPolicy {
	c := &compiledPolicy{RuntimePolicy: p, id: stableUUID("policy", p.Name)}
	whole := func(re string) *regexp.Regexp {
		if re == "" {
			return nil
		}
		return regexp.MustCompile(`^(?:` + re + `)$`)
	}
	c.name, c.path = whole(p.Match.ProcessName), whole(p.Match.ExecPath)
	if p.Match.Args != "" {
		c.argsRe = regexp.MustCompile(p.Match.Args)
	}
	for _, ns := range p.ExcludeNamespaces {
		if prefix, ok := strings.CutSuffix(ns, "*"); ok {
			c.exclPrefx = append(c.exclPrefx, prefix)
		} else {
			c.excluded = append(c.excluded, ns)
		}
	}
	return c
}

func (c *compiledPolicy) matches(namespace string, p *indicator) bool {
	if c.Disabled || contains(c.excluded, namespace) {
		return false
	}
	for _, prefix := range c.exclPrefx {
		if strings.HasPrefix(namespace, prefix) {
			return false
		}
	}
	return (c.name == nil || c.name.MatchString(p.name)) &&
		(c.path == nil || c.path.MatchString(p.path)) &&
		(c.argsRe == nil || c.argsRe.MatchString(p.args)) &&
		(c.Match.UID == nil || *c.Match.UID == p.uid)
}

func (c *compiledPolicy) killsPod() bool { return contains(c.Enforcement, "KILL_POD_ENFORCEMENT") }

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// isUUID accepts the 8-4-4-4-12 hex form.
func isUUID(s string) bool { return uuidRe.MatchString(s) }
