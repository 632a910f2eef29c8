package acs

import (
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// A runtime gate polls Central for minutes, for many workloads at once, so
// what it keeps of each answer must be small whatever the peer sends. Each
// runtime call has a byte limit below MaxResponseBytes, streams its lists
// element by element, refuses more elements than the limits below, and
// cuts every string it keeps to MaxText. Central's own caps are far below
// these limits, so only a broken or hostile peer reaches them, and it gets
// a clear error (errors.Is(err, ErrLimit)) rather than the client's memory.
const (
	// MaxAlerts bounds the alerts one deployment may have, over all pages.
	// Central keeps one open alert per policy and deployment.
	MaxAlerts = 1000
	// MaxContainers bounds the containers of one deployment.
	MaxContainers = 256
	// MaxProcessGroups bounds the (container, executable) groups of one
	// deployment; MaxProcessSignals the process indicators in all of them.
	MaxProcessGroups  = 2048
	MaxProcessSignals = 8192
	// MaxAlertEvidence bounds the violations and the processes of one
	// alert. Central keeps at most 40 of each.
	MaxAlertEvidence = 200
	// MaxCategories bounds the categories of one policy.
	MaxCategories = 64
	// MaxText bounds each string kept: names, paths, arguments, messages.
	MaxText = 512
)

// Byte limits of the runtime calls' bodies.
const (
	maxDeploymentBytes = 4 << 20
	maxAlertPageBytes  = 8 << 20
	maxAlertBytes      = 8 << 20
	maxProcessBytes    = 32 << 20
	maxClusterBytes    = 4 << 20
	maxSmallBytes      = 64 << 10 // counts
)

func tooMany(what string, limit int) error {
	return &LimitError{Limit: what, Max: int64(limit), what: fmt.Sprintf("more than %d %s", limit, what)}
}

// decodeList decodes an object whose member key is a list, handing each
// element to each as it is read and failing after limit elements; other
// members are read and dropped. Only one element is held in memory at a
// time, besides what each keeps.
func decodeList[T any](r io.Reader, key, what string, limit int, each func(*T) error) error {
	dec := json.NewDecoder(r)
	isNull, err := openObject(dec, what)
	if err != nil {
		return err
	}
	if isNull {
		return expectEOF(dec)
	}
	var ignore struct{}
	err = decodeMembers(dec, &ignore, map[string]func() error{key: func() error {
		tok, err := dec.Token()
		if err != nil || tok == nil {
			return err
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("acs: decode %s: got %s, want an array", what, tokenKind(tok))
		}
		for n := 0; dec.More(); n++ {
			if n == limit {
				return tooMany(what, limit)
			}
			v := new(T)
			if err := dec.Decode(v); err != nil {
				return err
			}
			if err := each(v); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}})
	if err != nil {
		return err
	}
	return expectEOF(dec)
}

// shorten cuts s to MaxText bytes on a rune boundary.
func shorten(s *string) {
	if len(*s) <= MaxText {
		return
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart((*s)[cut]) {
		cut--
	}
	*s = (*s)[:cut] + "…"
}

func shortenAll(ss ...*string) {
	for _, s := range ss {
		shorten(s)
	}
}

// bound checks the containers and cuts the strings kept.
func (d *Deployment) bound() error {
	if len(d.Containers) > MaxContainers {
		return tooMany("containers", MaxContainers)
	}
	shortenAll(&d.ID, &d.Name, &d.Type, &d.Namespace, &d.NamespaceID, &d.ClusterID, &d.ClusterName)
	for i := range d.Containers {
		c := &d.Containers[i]
		shortenAll(&c.ID, &c.Name)
		if c.Image != nil {
			shorten(&c.Image.ID)
			c.Image.Name = boundName(c.Image.Name)
		}
	}
	return nil
}

func boundName(n *ImageName) *ImageName {
	if n == nil {
		return nil
	}
	shortenAll(&n.Registry, &n.Remote, &n.Tag, &n.FullName)
	return n
}

func (a *ListAlert) bound() error {
	shortenAll(&a.ID)
	if p := a.Policy; p != nil {
		if len(p.Categories) > MaxCategories {
			return tooMany("categories of policy "+p.Name, MaxCategories)
		}
		shortenAll(&p.ID, &p.Name, &p.Description)
		for i := range p.Categories {
			shorten(&p.Categories[i])
		}
	}
	if e := a.CommonEntityInfo; e != nil {
		shortenAll(&e.ClusterName, &e.Namespace, &e.ClusterID, &e.NamespaceID, &e.ResourceType)
	}
	if d := a.Deployment; d != nil {
		shortenAll(&d.ID, &d.Name, &d.DeploymentType)
	}
	for _, n := range []*NamedEntity{a.Resource, a.Node} {
		if n != nil {
			shorten(&n.Name)
		}
	}
	return nil
}

// bound keeps of a full alert what a runtime gate reports: the policy's
// identity, the deployment's, the violation messages and the processes.
// The policy's criteria, scope and exclusions are dropped.
func (a *Alert) bound() error {
	if len(a.Violations) > MaxAlertEvidence {
		return tooMany("violations in alert "+a.ID, MaxAlertEvidence)
	}
	if pv := a.ProcessViolation; pv != nil && len(pv.Processes) > MaxAlertEvidence {
		return tooMany("processes in alert "+a.ID, MaxAlertEvidence)
	}
	shortenAll(&a.ID, &a.ClusterID, &a.ClusterName, &a.Namespace, &a.NamespaceID, &a.EntityType)
	if p := a.Policy; p != nil {
		if len(p.Categories) > MaxCategories {
			return tooMany("categories of policy "+p.Name, MaxCategories)
		}
		p.PolicySections = nil
		shortenAll(&p.ID, &p.Name, &p.Description, &p.Rationale, &p.Remediation, &p.PolicyVersion)
		for i := range p.Categories {
			shorten(&p.Categories[i])
		}
	}
	if d := a.Deployment; d != nil {
		if len(d.Containers) > MaxContainers {
			return tooMany("containers", MaxContainers)
		}
		d.Labels, d.Annotations = nil, nil
		shortenAll(&d.ID, &d.Name, &d.Type, &d.Namespace, &d.NamespaceID, &d.ClusterID, &d.ClusterName)
		for i := range d.Containers {
			shorten(&d.Containers[i].Name)
			d.Containers[i].Image = nil
		}
	}
	a.Image = nil
	for i := range a.Violations {
		shortenAll(&a.Violations[i].Message, &a.Violations[i].Type)
	}
	if e := a.Enforcement; e != nil {
		shorten(&e.Message)
	}
	if pv := a.ProcessViolation; pv != nil {
		shorten(&pv.Message)
		for i := range pv.Processes {
			pv.Processes[i].bound()
		}
	}
	return nil
}

func (p *ProcessIndicator) bound() {
	shortenAll(&p.ID, &p.DeploymentID, &p.ContainerName, &p.PodID, &p.PodUID, &p.ClusterID, &p.Namespace, &p.ImageID,
		&p.Signal.ID, &p.Signal.ContainerID, &p.Signal.Name, &p.Signal.Args, &p.Signal.ExecFilePath)
}

func (c *Cluster) bound() {
	shortenAll(&c.ID, &c.Name)
}
