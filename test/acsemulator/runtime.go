package acsemulator

import (
	"fmt"
	"path"
	"sync"
	"time"
)

// The emulated runtime side of ACS: what Sensor and Collector report about
// running workloads, and the alerts Central keeps. Tests (or
// WatchDeployments) tell it what runs and what executes; it answers the
// runtime API the way Central does, including its traps:
//
//   - a new deployment is reported only after a delay (SetRuntimeDelays),
//     and its processes later still (Central flushes them about once a
//     minute);
//   - one open alert per (policy, deployment): a new violation merges into
//     it, keeping its id and bumping its time, unless it already holds 40
//     processes, in which case nothing changes;
//   - RESOLVED alerts are hidden unless the query names Violation State;
//   - a token whose access scope does not cover the namespace gets empty
//     lists and 404s, indistinguishable from "nothing there".

// Workload is a deployment as Sensor reports it.
type Workload struct {
	// UID is the Kubernetes metadata.uid: Central's deployment id.
	UID       string
	Name      string
	Namespace string
	Type      string // default "Deployment"
	// ClusterID defaults to the first cluster of the data.
	ClusterID  string
	Labels     map[string]string
	Containers []WorkloadContainer
}

// WorkloadContainer is one container of a Workload.
type WorkloadContainer struct {
	Name  string
	Image string // a reference; its digest becomes the image id
}

// Process is one process Collector saw in a container.
type Process struct {
	DeploymentUID string
	Container     string
	Pod           string // the pod's name
	PodUID        string
	ExecPath      string
	Args          string
	UID           uint32
	// Time is when it ran; zero means now. Alerts it raises carry it.
	Time time.Time
}

// maxAlertProcesses is how many processes Central keeps per alert.
const maxAlertProcesses = 40

type runtimeState struct {
	mu             sync.Mutex
	policies       []*compiledPolicy
	deployPolicies map[string]Policy
	clusters       []*ClusterData
	workloads      map[string]*workload
	alerts         map[string]*rtAlert
	deployDelay    time.Duration
	indicatorDelay time.Duration
}

type workload struct {
	Workload
	added       time.Time
	removed     bool
	namespaceID string
	started     time.Time
	processes   []*indicator
	byKey       map[string]*indicator
	alerts      []*rtAlert
}

type indicator struct {
	id, container, pod, podUID, path, name, args string
	uid, pid                                     uint32
	time, stored                                 time.Time
}

type rtAlert struct {
	id          string
	policy      alertPolicy
	stage       string
	w           *workload
	state       string
	first, time time.Time
	resolvedAt  time.Time
	processes   []*indicator
	podsKilled  map[string]bool
	violations  []string
}

// alertPolicy is the policy an alert names.
type alertPolicy struct {
	id, name, description, rationale, remediation, severity string
	categories, actions                                     []string
	rule                                                    []obj
}

func newRuntimeState(d Data) *runtimeState {
	rs := &runtimeState{workloads: map[string]*workload{}, alerts: map[string]*rtAlert{}, deployPolicies: map[string]Policy{}}
	for _, p := range d.RuntimePolicies {
		rs.policies = append(rs.policies, compileRuntime(p))
	}
	for _, p := range d.DeployPolicies {
		rs.deployPolicies[p.Name] = p
	}
	clusters := d.Clusters
	if len(clusters) == 0 {
		clusters = []ClusterData{defaultCluster}
	}
	for _, c := range clusters {
		c := c
		if c.SensorHealth == "" {
			c.SensorHealth = "HEALTHY"
		}
		if c.CollectorHealth == "" {
			c.CollectorHealth = "HEALTHY"
		}
		rs.clusters = append(rs.clusters, &c)
	}
	return rs
}

// SetRuntimeDelays sets how long after AddDeployment Central reports a
// deployment, and how long after Exec it reports the process (Central
// writes process indicators about once a minute; alerts are not delayed).
func (e *Emulator) SetRuntimeDelays(deployment, indicators time.Duration) {
	e.rt.mu.Lock()
	defer e.rt.mu.Unlock()
	e.rt.deployDelay, e.rt.indicatorDelay = deployment, indicators
}

// SetClusterHealth sets a cluster's Sensor and Collector health (HEALTHY,
// DEGRADED, UNHEALTHY, UNAVAILABLE, UNINITIALIZED); "" keeps a value.
func (e *Emulator) SetClusterHealth(clusterID, sensor, collector string) error {
	e.rt.mu.Lock()
	defer e.rt.mu.Unlock()
	for _, c := range e.rt.clusters {
		if c.ID == clusterID {
			for field, v := range map[string]string{"sensor": sensor, "collector": collector} {
				if v != "" && !contains(healthStatuses, v) {
					return fmt.Errorf("acsemulator: %s health %q: want one of %v", field, v, healthStatuses)
				}
			}
			if sensor != "" {
				c.SensorHealth = sensor
			}
			if collector != "" {
				c.CollectorHealth = collector
			}
			return nil
		}
	}
	return fmt.Errorf("acsemulator: no cluster %q", clusterID)
}

// ClusterID is the first cluster's id, which deployments belong to by default.
func (e *Emulator) ClusterID() string { return e.rt.clusters[0].ID }

// AddDeployment tells the emulated Sensor that a workload exists. Central
// reports it after the deployment delay. Adding a known UID again updates
// its name, labels and containers, as a rollout of the same object does.
func (e *Emulator) AddDeployment(w Workload) error {
	if !isUUID(w.UID) || w.Name == "" || w.Namespace == "" {
		return fmt.Errorf("acsemulator: AddDeployment: want a UUID uid, a name and a namespace, got %q %q %q", w.UID, w.Name, w.Namespace)
	}
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if w.ClusterID == "" {
		w.ClusterID = rs.clusters[0].ID
	}
	if rs.cluster(w.ClusterID) == nil {
		return fmt.Errorf("acsemulator: AddDeployment: no cluster %q", w.ClusterID)
	}
	if w.Type == "" {
		w.Type = "Deployment"
	}
	if old, ok := rs.workloads[w.UID]; ok {
		old.Workload, old.removed = w, false
		return nil
	}
	now := time.Now().UTC()
	rs.workloads[w.UID] = &workload{Workload: w, added: now, started: now,
		namespaceID: stableUUID("namespace", w.ClusterID+"/"+w.Namespace), byKey: map[string]*indicator{}}
	return nil
}

// RemoveDeployment tells Sensor the workload was deleted: Central forgets
// the deployment, its deploy-time alerts are resolved, and its runtime
// alerts stay ACTIVE with the deployment marked inactive.
func (e *Emulator) RemoveDeployment(uid string) {
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	w, ok := rs.workloads[uid]
	if !ok {
		return
	}
	w.removed = true
	now := time.Now().UTC()
	for _, a := range w.alerts {
		if a.stage == "DEPLOY" && a.state != "RESOLVED" {
			a.state, a.resolvedAt = "RESOLVED", now
		}
	}
}

// Exec reports one process, as Collector and Sensor would: it is stored
// (seen through the process API after the indicator delay) and matched
// against the runtime policies, raising or merging alerts at once. The same
// executable with the same arguments in the same container and pod is one
// indicator; repeating it changes nothing.
func (e *Emulator) Exec(p Process) error {
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	w, ok := rs.workloads[p.DeploymentUID]
	if !ok || w.removed {
		return fmt.Errorf("acsemulator: Exec: no deployment %q (AddDeployment first)", p.DeploymentUID)
	}
	if !containerOf(w, p.Container) {
		return fmt.Errorf("acsemulator: Exec: deployment %s has no container %q", w.Name, p.Container)
	}
	if p.ExecPath == "" || p.ExecPath[0] != '/' {
		return fmt.Errorf("acsemulator: Exec: ExecPath %q is not absolute", p.ExecPath)
	}
	if p.Pod == "" {
		p.Pod = w.Name + "-" + stableUUID("pod", w.UID)[:5]
	}
	if p.PodUID == "" {
		p.PodUID = stableUUID("pod-uid", w.UID+"/"+p.Pod)
	}
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	key := p.Pod + "\x00" + p.Container + "\x00" + p.ExecPath + "\x00" + p.Args
	if _, dup := w.byKey[key]; dup {
		return nil
	}
	ind := &indicator{id: stableUUID("indicator", w.UID+"\x00"+key), container: p.Container, pod: p.Pod, podUID: p.PodUID,
		path: p.ExecPath, name: path.Base(p.ExecPath), args: p.Args, uid: p.UID, pid: uint32(len(w.processes) + 100),
		time: p.Time.UTC(), stored: time.Now().Add(rs.indicatorDelay)}
	w.byKey[key] = ind
	w.processes = append(w.processes, ind)
	for _, pol := range rs.policies {
		if pol.matches(w.Namespace, ind) {
			rs.violate(w, pol, ind)
		}
	}
	return nil
}

func (rs *runtimeState) cluster(id string) *ClusterData {
	for _, c := range rs.clusters {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (rs *runtimeState) runtimePolicy(name string) (*compiledPolicy, bool) {
	for _, p := range rs.policies {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// visible reports whether Central reports the workload now.
func (rs *runtimeState) visible(w *workload, now time.Time) bool {
	return !w.removed && !now.Before(w.added.Add(rs.deployDelay))
}

func (c *compiledPolicy) alertPolicy() alertPolicy {
	return alertPolicy{id: c.id, name: c.Name, description: c.Description, rationale: c.Rationale, remediation: c.Remediation,
		severity: c.Severity, categories: c.Categories, actions: c.Enforcement, rule: runtimeGroups(c.Match)}
}

func deployAlertPolicy(p Policy) alertPolicy {
	return alertPolicy{id: stableUUID("policy", p.Name), name: p.Name, description: p.Description, rationale: p.Rationale,
		remediation: p.Remediation, severity: p.Severity, categories: p.Categories, actions: p.Enforcement, rule: policyGroups(p.Match)}
}

func containerOf(w *workload, name string) bool {
	for _, c := range w.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
