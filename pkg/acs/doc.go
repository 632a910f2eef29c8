// Package acs is a client for the REST gateway of Red Hat Advanced Cluster
// Security (StackRox) Central: the calls roxctl makes for `image scan`,
// `image check` and `deployment check`, plus the health and identity calls a
// controller needs before it trusts a token.
//
// The package does I/O only. It returns what Central said, typed; whether an
// image or a deployment passes is decided elsewhere (pkg/gate). In particular:
//
//   - A 200 from ScanImage whose Scan.Notes contain OS_UNAVAILABLE,
//     PARTIAL_SCAN_DATA or similar is returned as is. The notes are decoded
//     so the caller can refuse to call such a scan clean.
//   - DetectBuild does not notice missing scan data on Central's side: an
//     unscannable image is evaluated with no CVEs. Callers that gate on CVE
//     policies should run ScanImage as well.
//
// # Wire format
//
// Central's gateway marshals with protojson and EmitUnpopulated: keys are
// lowerCamelCase, enums are their names (kept here as string types with
// constants), int64/uint64 are JSON strings (see Int64 and Uint64), unset
// timestamps are null, and members of an unset oneof are left out (pointer
// fields here, nil when absent). Unknown fields are ignored, so a newer
// Central does not break an older client.
//
// # Transport
//
// A Client sends `Authorization: Bearer <token>`, verifies TLS against the
// system roots plus an optional CA bundle, and retries what is worth
// retrying: 429, 502, 503, 504, transport errors, attempt timeouts and the
// few 500s that mean "not ready yet" (image enrichment errors, manifest
// errors, upstream deadlines, "scan could not be completed"). It never retries
// 400, 401, 403, 404, other 500s, or TLS verification failures. At most
// MaxConcurrent requests are in flight per Client, and every wait (for a
// slot, for a backoff, for a response) ends as soon as the caller's context
// does. Responses are decoded from the stream; a scan of a large image is
// never read into one buffer.
//
// The API token is never part of an error, a log line or a formatted Config
// or Client.
package acs
