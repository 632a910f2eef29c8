package report

import (
	"encoding/json"
	"io"
	"strconv"
)

// SARIF 2.1.0, the subset code-scanning UIs read. Only what we fill is
// declared; field names follow the OASIS schema.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	ShortDescription sarifText         `json:"shortDescription"`
	FullDescription  *sarifText        `json:"fullDescription,omitempty"`
	HelpURI          string            `json:"helpUri,omitempty"`
	Properties       map[string]any    `json:"properties,omitempty"`
	Default          map[string]string `json:"defaultConfiguration,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool `json:"executionSuccessful"`
	// The gate's verdict rides in the invocation's properties, so a
	// reader of the file alone knows whether the pipeline stopped.
	Properties map[string]any `json:"properties"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      Level           `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

const (
	sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"
	projectURI  = "https://github.com/modelguard/modelguard"
)

// SARIF writes r as a SARIF 2.1.0 log with one run. Each distinct rule
// is declared once and results point at it by index, as the spec asks.
func SARIF(w io.Writer, r Report) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{Name: r.Tool, Version: r.Version, InformationURI: projectURI, Rules: []sarifRule{}}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: true, Properties: map[string]any{
			"gate": verdict(r.Pass), "reason": r.Reason, "summary": r.Summary, "subject": r.Subject}}},
		Results: []sarifResult{},
	}
	index := map[string]int{}
	for _, res := range r.Results {
		i, ok := index[res.Rule.ID]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[res.Rule.ID] = i
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule(res))
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: res.Rule.ID, RuleIndex: i, Level: res.Level,
			Message:    sarifText{Text: res.Message},
			Locations:  []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: res.Location}}}},
			Properties: map[string]any{"failing": res.Failing},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

func rule(res Result) sarifRule {
	r := res.Rule
	out := sarifRule{ID: r.ID, Name: r.Name, ShortDescription: sarifText{Text: firstNonEmpty(r.Name, r.ID)}, HelpURI: r.HelpURI,
		Default: map[string]string{"level": string(res.Level)}}
	if r.Description != "" {
		out.FullDescription = &sarifText{Text: r.Description}
	}
	props := map[string]any{}
	if len(r.Tags) > 0 {
		props["tags"] = r.Tags
	}
	if _, err := strconv.ParseFloat(r.SecuritySeverity, 64); err == nil {
		props["security-severity"] = r.SecuritySeverity
	}
	if len(props) > 0 {
		out.Properties = props
	}
	return out
}

func verdict(pass bool) string {
	if pass {
		return "pass"
	}
	return "fail"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
