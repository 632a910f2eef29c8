package acs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The calls a gate makes after a rollout, to watch the new workload: does
// Central know it, do processes from it arrive, which alerts does it have.
// Each needs a permission the "Continuous Integration" role lacks; see
// RuntimePermissions.

// Paths of the runtime endpoints.
const (
	pathDeployments  = "/v1/deployments/"
	pathAlerts       = "/v1/alerts"
	pathProcessCount = "/v1/processcount"
	pathProcesses    = "/v1/processes/deployment/"
	pathClusters     = "/v1/clusters/"
)

// RuntimePermissions are the resources the runtime calls read, each at
// READ_ACCESS or more: alerts (Alert), deployments (Deployment), processes
// (DeploymentExtension) and cluster health (Cluster).
var RuntimePermissions = []string{"Alert", "Deployment", "DeploymentExtension", "Cluster"}

// alertPageSize is how many alerts one page asks for; pages continue while
// full, up to MaxAlerts.
const alertPageSize = 250

// GetDeployment calls GET /v1/deployments/{id}. id is the workload's
// Kubernetes UID. A 404 (IsNotFound) means Central has not seen it yet, or
// the token's access scope hides it: the two look the same.
func (c *Client) GetDeployment(ctx context.Context, id string) (*Deployment, error) {
	if err := checkUUID("deployment id", id); err != nil {
		return nil, err
	}
	var out Deployment
	cl := &call{method: http.MethodGet, path: pathDeployments + id, maxBytes: maxDeploymentBytes,
		decode: boundedInto(&out)}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAlerts calls GET /v1/alerts with q, page by page, and returns every
// alert, each once. Central filters by the query and by the token's access
// scope, silently: an empty list is what a token that may not see the
// namespace gets, so callers must not read "no alerts" as "clean" without
// knowing Central sees the deployment.
//
// Alerts can move between pages while they are read (a merge bumps an
// alert's time, and the list is sorted by time), so an alert may be missed
// by one listing; a watch lists again on every poll.
func (c *Client) ListAlerts(ctx context.Context, q AlertQuery) ([]ListAlert, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	var all []ListAlert
	seen := map[string]bool{}
	for offset := 0; ; offset += alertPageSize {
		var page []ListAlert
		query := url.Values{"query": {q.String()},
			"pagination.limit": {strconv.Itoa(alertPageSize)}, "pagination.offset": {strconv.Itoa(offset)}}
		cl := &call{method: http.MethodGet, path: pathAlerts, query: query, maxBytes: maxAlertPageBytes,
			decode: func(r io.Reader) error {
				page = page[:0]
				return decodeList(r, "alerts", "alerts", alertPageSize, func(a *ListAlert) error {
					if err := a.bound(); err != nil {
						return err
					}
					page = append(page, *a)
					return nil
				})
			}}
		if err := c.do(ctx, cl); err != nil {
			return nil, err
		}
		for _, a := range page {
			if seen[a.ID] {
				continue
			}
			if len(all) == MaxAlerts {
				return nil, &transportError{op: cl.op(), msg: "answer past the client's limits", err: tooMany("alerts for one deployment", MaxAlerts)}
			}
			seen[a.ID] = true
			all = append(all, a)
		}
		if len(page) < alertPageSize {
			return all, nil
		}
	}
}

// GetAlert calls GET /v1/alerts/{id}: the full alert, with the processes
// that broke a runtime policy in ProcessViolation. Of the policy, only its
// identity is kept.
func (c *Client) GetAlert(ctx context.Context, id string) (*Alert, error) {
	if err := checkUUID("alert id", id); err != nil {
		return nil, err
	}
	var out Alert
	cl := &call{method: http.MethodGet, path: pathAlerts + "/" + id, maxBytes: maxAlertBytes, decode: boundedInto(&out)}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProcessCount calls GET /v1/processcount for one deployment: how many
// process indicators Central has stored for it. Central writes them to its
// database about once a minute, so the count lags the alerts.
func (c *Client) ProcessCount(ctx context.Context, deploymentID string) (int, error) {
	if err := checkUUID("deployment id", deploymentID); err != nil {
		return 0, err
	}
	var out struct {
		Count Int64 `json:"count"`
	}
	cl := &call{method: http.MethodGet, path: pathProcessCount, maxBytes: maxSmallBytes,
		query: url.Values{"query": {deploymentQuery(deploymentID)}}, decode: jsonInto(&out)}
	if err := c.do(ctx, cl); err != nil {
		return 0, err
	}
	if out.Count < 0 {
		return 0, &transportError{op: cl.op(), msg: "malformed response", err: fmt.Errorf("negative count %d", out.Count)}
	}
	return int(out.Count), nil
}

// ProcessesByContainer calls
// GET /v1/processes/deployment/{id}/grouped/container: every executable
// each container of the deployment ran, with its process indicators. It is
// a 404 until Central has the deployment.
func (c *Client) ProcessesByContainer(ctx context.Context, deploymentID string) ([]ContainerProcesses, error) {
	if err := checkUUID("deployment id", deploymentID); err != nil {
		return nil, err
	}
	var out []ContainerProcesses
	cl := &call{method: http.MethodGet, path: pathProcesses + deploymentID + "/grouped/container", maxBytes: maxProcessBytes,
		decode: func(r io.Reader) error {
			out = out[:0]
			signals := 0
			return decodeList(r, "groups", "process groups", MaxProcessGroups, func(g *ContainerProcesses) error {
				shortenAll(&g.Name, &g.ContainerName)
				for i := range g.Groups {
					shorten(&g.Groups[i].Args)
					signals += len(g.Groups[i].Signals)
					if signals > MaxProcessSignals {
						return tooMany("process indicators", MaxProcessSignals)
					}
					for j := range g.Groups[i].Signals {
						g.Groups[i].Signals[j].bound()
					}
				}
				out = append(out, *g)
				return nil
			})
		}}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return out, nil
}

// GetCluster calls GET /v1/clusters/{id} and returns the cluster with its
// health: runtime detection needs a healthy Sensor and Collector.
func (c *Client) GetCluster(ctx context.Context, id string) (*Cluster, error) {
	if err := checkUUID("cluster id", id); err != nil {
		return nil, err
	}
	var out struct {
		Cluster *Cluster `json:"cluster"`
	}
	cl := &call{method: http.MethodGet, path: pathClusters + id, maxBytes: maxClusterBytes, decode: jsonInto(&out)}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	if out.Cluster == nil {
		return nil, &transportError{op: cl.op(), msg: "malformed response", err: fmt.Errorf("no cluster in the answer")}
	}
	out.Cluster.bound()
	return out.Cluster, nil
}

// bounded is a type whose decoded value is checked against the limits and
// cut to what is kept.
type bounded interface{ bound() error }

// boundedInto is jsonInto followed by the value's bound check.
func boundedInto[T any, P interface {
	*T
	bounded
}](out P) func(io.Reader) error {
	return func(r io.Reader) error {
		v := P(new(T))
		if err := decodeJSON(r, v); err != nil {
			return err
		}
		if err := v.bound(); err != nil {
			return err
		}
		*out = *v
		return nil
	}
}
