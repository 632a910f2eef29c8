package acs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Environment variables ConfigFromEnv reads. They are roxctl's, so a step
// that already runs roxctl can run this client with the same env.
const (
	EnvEndpoint        = "ROX_ENDPOINT"
	EnvCentralEndpoint = "ROX_CENTRAL_ENDPOINT" // alias used by the Tekton catalog tasks
	EnvAPIToken        = "ROX_API_TOKEN"
	EnvAPITokenFile    = "ROX_API_TOKEN_FILE"
	EnvCACertFile      = "ROX_CA_CERT_FILE"
	EnvInsecureSkipTLS = "ROX_INSECURE_CLIENT_SKIP_TLS_VERIFY"
	EnvServerName      = "ROX_SERVER_NAME"
	EnvPlaintext       = "ROX_PLAINTEXT"
	EnvInsecureClient  = "ROX_INSECURE_CLIENT"
	EnvMaxRetries      = "ROX_CLIENT_MAX_RETRIES"
)

// Keys ConfigFromSecretData reads from a Kubernetes Secret's data.
const (
	SecretKeyEndpoint           = "endpoint"             // required
	SecretKeyToken              = "token"                // required
	SecretKeyCACert             = "ca.crt"               // optional PEM bundle
	SecretKeyInsecureSkipVerify = "insecure-skip-verify" // optional "true" or "false"
)

// ConfigFromEnv reads roxctl's environment variables:
//
//   - ROX_ENDPOINT (or, if unset, ROX_CENTRAL_ENDPOINT): required.
//   - ROX_API_TOKEN_FILE, else ROX_API_TOKEN: required (roxctl's order; the
//     file is read and trimmed).
//   - ROX_CA_CERT_FILE: a PEM bundle.
//   - ROX_INSECURE_CLIENT_SKIP_TLS_VERIFY, ROX_SERVER_NAME.
//   - ROX_PLAINTEXT, which, as in roxctl, needs ROX_INSECURE_CLIENT=true.
//   - ROX_CLIENT_MAX_RETRIES: retries (0 disables them).
//
// Unlike roxctl it has no localhost:8443 default: a controller that silently
// talks to localhost is harder to debug than one that says what is missing.
// Errors name the variable, never its value.
func ConfigFromEnv() (Config, error) {
	var c Config
	c.Endpoint = strings.TrimSpace(os.Getenv(EnvEndpoint))
	if c.Endpoint == "" {
		c.Endpoint = strings.TrimSpace(os.Getenv(EnvCentralEndpoint))
	}
	if c.Endpoint == "" {
		return Config{}, fieldErr(EnvEndpoint, "is not set (nor "+EnvCentralEndpoint+")")
	}

	if path := os.Getenv(EnvAPITokenFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fieldErr(EnvAPITokenFile, "names a file that cannot be read: "+errReason(err))
		}
		c.Token = strings.TrimSpace(string(b))
		if c.Token == "" {
			return Config{}, fieldErr(EnvAPITokenFile, "names an empty file")
		}
	} else if c.Token = strings.TrimSpace(os.Getenv(EnvAPIToken)); c.Token == "" {
		return Config{}, fieldErr(EnvAPIToken, "is not set (nor "+EnvAPITokenFile+")")
	}

	if path := os.Getenv(EnvCACertFile); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fieldErr(EnvCACertFile, "names a file that cannot be read: "+errReason(err))
		}
		if err := checkPEM(b); err != nil {
			return Config{}, fieldErr(EnvCACertFile, err.Error())
		}
		c.CACert = b
	}

	var err error
	if c.InsecureSkipVerify, err = envBool(EnvInsecureSkipTLS); err != nil {
		return Config{}, err
	}
	c.ServerName = strings.TrimSpace(os.Getenv(EnvServerName))
	if c.Plaintext, err = envBool(EnvPlaintext); err != nil {
		return Config{}, err
	}
	if c.Plaintext {
		insecure, err := envBool(EnvInsecureClient)
		if err != nil {
			return Config{}, err
		}
		if !insecure {
			return Config{}, fieldErr(EnvPlaintext, "needs "+EnvInsecureClient+"=true, as in roxctl")
		}
	}
	if v := strings.TrimSpace(os.Getenv(EnvMaxRetries)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Config{}, fieldErr(EnvMaxRetries, "is not a non-negative integer")
		}
		c.Retries = n
		if n == 0 {
			c.Retries = -1 // Config's zero means "default"
		}
	}
	return c, nil
}

// ConfigFromSecretData builds a Config from a Kubernetes Secret's data map:
// "endpoint" and "token" are required; "ca.crt" (PEM) and
// "insecure-skip-verify" ("true"/"false") are optional. Values are trimmed.
// Errors name the key, never its value.
func ConfigFromSecretData(data map[string][]byte) (Config, error) {
	var c Config
	c.Endpoint = strings.TrimSpace(string(data[SecretKeyEndpoint]))
	if c.Endpoint == "" {
		return Config{}, fieldErr(secretKey(SecretKeyEndpoint), "is missing or empty")
	}
	c.Token = strings.TrimSpace(string(data[SecretKeyToken]))
	if c.Token == "" {
		return Config{}, fieldErr(secretKey(SecretKeyToken), "is missing or empty")
	}
	if ca := data[SecretKeyCACert]; len(strings.TrimSpace(string(ca))) > 0 {
		if err := checkPEM(ca); err != nil {
			return Config{}, fieldErr(secretKey(SecretKeyCACert), err.Error())
		}
		c.CACert = ca
	}
	if v, ok := data[SecretKeyInsecureSkipVerify]; ok {
		switch strings.ToLower(strings.TrimSpace(string(v))) {
		case "true":
			c.InsecureSkipVerify = true
		case "false", "":
		default:
			return Config{}, fieldErr(secretKey(SecretKeyInsecureSkipVerify), `must be "true" or "false"`)
		}
	}
	return c, nil
}

func secretKey(k string) string { return "secret key " + strconv.Quote(k) }

func envBool(name string) (bool, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fieldErr(name, "is not a boolean")
	}
	return b, nil
}

// errReason drops the path from an *os.PathError: the variable is named
// already and the reason (no such file, permission denied) is what helps.
func errReason(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// parsePEMCerts returns the certificates of a PEM bundle, failing if there
// are none or one does not parse. Other block types are skipped.
func parsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", n, err)
		}
		certs = append(certs, cert)
		n++
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("contains no PEM CERTIFICATE block")
	}
	return certs, nil
}

func checkPEM(b []byte) error {
	_, err := parsePEMCerts(b)
	return err
}
