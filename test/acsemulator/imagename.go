package acsemulator

import (
	"errors"
	"fmt"
	"strings"
)

// imageRef is a parsed, normalised image reference, the way Central stores it
// in ImageName {registry, remote, tag, fullName}.
type imageRef struct {
	Registry string
	Remote   string
	Tag      string
	Digest   string
}

// errBadReference is docker/distribution's generic parse failure, which
// Central puts into its 400 message.
var errBadReference = errors.New("invalid reference format")

// parseImageName normalises s the way Central does before a scan or check
// (pkg/images/utils, docker/distribution's ParseNormalizedNamed):
//   - a first path component without '.' or ':' (and not "localhost") is a
//     Docker Hub repository: "nginx" → docker.io/library/nginx;
//   - no tag and no digest means tag "latest";
//   - "name:tag@sha256:…" keeps both the tag and the digest;
//   - an upper-case repository path is rejected with distribution's message.
func parseImageName(s string) (imageRef, error) {
	var ref imageRef
	name := s
	if at := strings.IndexByte(s, '@'); at >= 0 {
		name, ref.Digest = s[:at], s[at+1:]
		if !isDigest(ref.Digest) {
			return imageRef{}, errBadReference
		}
	}
	if name == "" {
		return imageRef{}, errBadReference
	}
	ref.Registry, ref.Remote = "docker.io", name
	if slash := strings.IndexByte(name, '/'); slash >= 0 {
		first := name[:slash]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			ref.Registry, ref.Remote = first, name[slash+1:]
		}
	}
	if ref.Registry == "index.docker.io" {
		ref.Registry = "docker.io"
	}
	if ref.Registry == "docker.io" && !strings.Contains(ref.Remote, "/") {
		ref.Remote = "library/" + ref.Remote
	}
	// A ':' after the last '/' separates the tag; one before it is a port.
	if colon := strings.LastIndexByte(ref.Remote, ':'); colon >= 0 {
		ref.Remote, ref.Tag = ref.Remote[:colon], ref.Remote[colon+1:]
		if !validTag(ref.Tag) {
			return imageRef{}, errBadReference
		}
	}
	if strings.ToLower(ref.Remote) != ref.Remote {
		return imageRef{}, fmt.Errorf("%w: repository name (%s) must be lowercase", errBadReference, ref.Remote)
	}
	if !validRegistry(ref.Registry) || !validRemote(ref.Remote) {
		return imageRef{}, errBadReference
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, nil
}

// mustParseName is for names Validate has already accepted.
func mustParseName(s string) imageRef {
	ref, err := parseImageName(s)
	if err != nil {
		panic(fmt.Sprintf("acsemulator: unvalidated image name %q: %v", s, err))
	}
	return ref
}

// fullName is ImageName.fullName: registry/remote[:tag][@digest].
func (r imageRef) fullName() string {
	s := r.Registry + "/" + r.Remote
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// key identifies a name without its digest, for looking an image up by tag.
func (r imageRef) key() string {
	return r.Registry + "/" + r.Remote + ":" + r.Tag
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i, c := range t {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '.' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

func validRegistry(r string) bool {
	host, port, hasPort := strings.Cut(r, ":")
	if host == "" || hasPort && port == "" {
		return false
	}
	for _, c := range host {
		if !(c == '.' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validRemote checks each path component against distribution's grammar:
// lowercase alphanumerics separated by '.', '_', "__" or runs of '-'.
func validRemote(remote string) bool {
	for _, comp := range strings.Split(remote, "/") {
		if comp == "" {
			return false
		}
		if !isAlnum(comp[0]) || !isAlnum(comp[len(comp)-1]) {
			return false
		}
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			if isAlnum(c) || c == '-' {
				continue
			}
			if c == '.' || c == '_' {
				if comp[i+1] == '_' && c == '_' {
					i++ // "__" is one separator
				}
				if !isAlnum(comp[i+1]) {
					return false
				}
				continue
			}
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
