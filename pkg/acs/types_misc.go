package acs

import (
	"encoding/json"
	"time"
)

// PingResponse is the response of GET /v1/ping. The endpoint is anonymous:
// it proves reachability and TLS, not the token.
type PingResponse struct {
	Status string `json:"status"`
}

// Metadata is the response of GET /v1/metadata. Central fills Version only
// for authenticated callers, so this is the cheapest token check.
type Metadata struct {
	Version                  string   `json:"version"`
	BuildFlavor              string   `json:"buildFlavor"`
	ReleaseBuild             bool     `json:"releaseBuild"`
	LicenseStatus            string   `json:"licenseStatus"`
	CompatibleSensorVersions []string `json:"compatibleSensorVersions"`
}

// AuthStatus is the response of GET /v1/auth/status: who the token is.
//
// Central's message also has idpToken, a credential from the identity
// provider. It is deliberately not declared, so it is never kept in memory
// or written into a report by way of this type.
type AuthStatus struct {
	// UserID and ServiceID are a oneof: one of them is set.
	UserID    string           `json:"userId,omitempty"`
	ServiceID *ServiceIdentity `json:"serviceId,omitempty"`
	// Expires is when the token stops working; warn before it does.
	Expires        *time.Time      `json:"expires"`
	RefreshURL     string          `json:"refreshUrl"`
	AuthProvider   *AuthProvider   `json:"authProvider"`
	UserInfo       *UserInfo       `json:"userInfo"`
	UserAttributes []UserAttribute `json:"userAttributes"`
}

// ServiceIdentity identifies a StackRox service certificate.
type ServiceIdentity struct {
	Serial Int64  `json:"serial"`
	ID     string `json:"id"`
	Type   string `json:"type"`
}

// AuthProvider names the provider that issued the token. Its config map is
// not declared: it can hold client secrets.
type AuthProvider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// UserInfo is the caller's identity and effective permissions.
type UserInfo struct {
	Username     string            `json:"username"`
	FriendlyName string            `json:"friendlyName"`
	Permissions  *ResourceToAccess `json:"permissions"`
	Roles        []UserRole        `json:"roles"`
}

// ResourceToAccess maps resource names ("Image", "Detection") to access.
type ResourceToAccess struct {
	ResourceToAccess map[string]Access `json:"resourceToAccess"`
}

// UserRole is one role of the caller.
type UserRole struct {
	Name             string            `json:"name"`
	ResourceToAccess map[string]Access `json:"resourceToAccess"`
}

// UserAttribute is one attribute the auth provider asserted.
type UserAttribute struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// Permissions is the response of GET /v1/mypermissions. ScanImage needs
// Image READ_WRITE_ACCESS; DetectBuild and DetectDeployYAML need Detection
// READ_ACCESS.
type Permissions struct {
	ResourceToAccess map[string]Access `json:"resourceToAccess"`
}

// ErrorBody is the JSON body of a gateway error
// (pkg/grpc/server_error_handler.go). Error repeats Message for clients of
// the first gateway version. Code is a gRPC code (see the Code constants).
type ErrorBody struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Error   string            `json:"error"`
	Details []json.RawMessage `json:"details"`
}
