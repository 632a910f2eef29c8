package report

import (
	"encoding/xml"
	"io"
)

// JUnit XML as Jenkins, GitLab and Tekton dashboards read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes r as one test suite. Each result is a test case that fails
// when it made the gate fail; a last case, "gate", carries the verdict, so
// a gate that failed for a reason without findings (an incomplete scan)
// still shows as a failed test.
func JUnit(w io.Writer, r Report) error {
	suite := junitSuite{Name: r.Tool}
	for _, res := range r.Results {
		c := junitCase{Name: caseName(res.Rule), Classname: res.Location}
		if res.Failing {
			c.Failure = &junitFailure{Message: res.Message, Type: string(res.Level), Text: details(res)}
		}
		suite.Cases = append(suite.Cases, c)
	}
	gate := junitCase{Name: "gate", Classname: r.Subject}
	if !r.Pass {
		gate.Failure = &junitFailure{Message: r.Summary, Type: r.Reason, Text: r.Summary}
	}
	suite.Cases = append(suite.Cases, gate)
	for _, c := range suite.Cases {
		suite.Tests++
		if c.Failure != nil {
			suite.Failures++
		}
	}
	out := junitSuites{Name: r.Tool, Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func caseName(r Rule) string {
	if r.Name == "" || r.Name == r.ID {
		return r.ID
	}
	return r.ID + ": " + r.Name
}

func details(res Result) string {
	s := res.Message
	if res.Rule.Description != "" {
		s += "\n\n" + res.Rule.Description
	}
	if res.Rule.HelpURI != "" {
		s += "\n" + res.Rule.HelpURI
	}
	return s
}
