package localcluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// User is a named identity of the static token file: requests with Token as
// bearer token authenticate as Name with Groups (plus system:authenticated,
// which the apiserver adds).
type User struct {
	Name   string
	Token  string
	Groups []string
}

// The default users every cluster has. Only admin has rights to begin with;
// RBAC for the others comes from whatever a test or the product applies to
// their groups.
const (
	UserAdmin = "admin" // group system:masters: everything
	UserAlice = "alice" // data scientist
	UserBob   = "bob"   // ML engineer
	UserCarol = "carol" // operator
	UserDave  = "dave"  // pipeline author

	// UserController is the name under which the apiserver would know the
	// ServiceAccount modelguard/modelguard-controller, so RBAC bindings to
	// that ServiceAccount apply to requests made with this token.
	UserController = "system:serviceaccount:" + ControllerNamespace + ":" + ControllerServiceAccount

	ControllerNamespace      = "modelguard"
	ControllerServiceAccount = "modelguard-controller"

	// UserResolvers is Tekton's resolvers' ServiceAccount, as which
	// InstallResolvers runs them.
	UserResolvers = "system:serviceaccount:" + ResolversNamespace + ":tekton-pipelines-resolvers"
)

// Groups of the default users.
const (
	GroupMasters         = "system:masters"
	GroupDataScientists  = "modelguard:data-scientists"
	GroupMLEngineers     = "modelguard:ml-engineers"
	GroupOperators       = "modelguard:operators"
	GroupPipelineAuthors = "modelguard:pipeline-authors"
)

func defaultUsers() []User {
	return []User{
		{Name: UserAdmin, Groups: []string{GroupMasters}},
		{Name: UserAlice, Groups: []string{GroupDataScientists}},
		{Name: UserBob, Groups: []string{GroupMLEngineers}},
		{Name: UserCarol, Groups: []string{GroupOperators}},
		{Name: UserDave, Groups: []string{GroupPipelineAuthors}},
		{Name: UserController, Groups: []string{
			"system:serviceaccounts",
			"system:serviceaccounts:" + ControllerNamespace,
			"system:authenticated",
		}},
		{Name: UserResolvers, Groups: []string{
			"system:serviceaccounts",
			"system:serviceaccounts:" + ResolversNamespace,
			"system:authenticated",
		}},
	}
}

// resolveUsers merges the defaults with extra users and gives every user
// without a token a random one.
func resolveUsers(extra []User) ([]User, error) {
	users := defaultUsers()
	seen := map[string]bool{}
	for _, u := range users {
		seen[u.Name] = true
	}
	for _, u := range extra {
		if u.Name == "" {
			return nil, fmt.Errorf("user with empty name")
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("user %q defined twice (the defaults are admin, alice, bob, carol, dave and the controller)", u.Name)
		}
		seen[u.Name] = true
		u.Groups = append([]string(nil), u.Groups...)
		users = append(users, u)
	}
	for i := range users {
		if err := validateCSVField(users[i].Name); err != nil {
			return nil, fmt.Errorf("user %q: %w", users[i].Name, err)
		}
		for _, g := range users[i].Groups {
			if err := validateCSVField(g); err != nil || strings.Contains(g, ",") {
				return nil, fmt.Errorf("user %q: bad group %q", users[i].Name, g)
			}
		}
		if users[i].Token == "" {
			t, err := randomToken()
			if err != nil {
				return nil, err
			}
			users[i].Token = t
		} else if err := validateCSVField(users[i].Token); err != nil || strings.Contains(users[i].Token, ",") {
			return nil, fmt.Errorf("user %q: token must not contain commas, quotes or newlines", users[i].Name)
		}
	}
	return users, nil
}

// validateCSVField rejects what the apiserver's simple CSV reading of the
// token file would misparse.
func validateCSVField(s string) error {
	if strings.ContainsAny(s, "\"\n\r") {
		return fmt.Errorf("must not contain quotes or newlines")
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeTokenFile writes the apiserver's --token-auth-file:
// token,user,uid,"group1,group2".
func writeTokenFile(path string, users []User) error {
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%s,%s,uid-%s,\"%s\"\n", u.Token, u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

// kubeconfigPath is where the kubeconfig of a user lives. User names may
// contain ':' (the controller's), which is awkward in file names.
func kubeconfigPath(dir, user string) string {
	safe := strings.NewReplacer(":", "_", "/", "_").Replace(user)
	return filepath.Join(dir, "kubeconfigs", safe+".kubeconfig")
}

// writeKubeconfig writes a kubeconfig for one user with the CA embedded, so
// the file works on its own (e.g. copied elsewhere during the demo).
func writeKubeconfig(path, server string, caPEM []byte, u User) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[u.Name] = &clientcmdapi.AuthInfo{Token: u.Token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: u.Name}
	cfg.CurrentContext = "local"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig for %s: %w", u.Name, err)
	}
	return nil
}
