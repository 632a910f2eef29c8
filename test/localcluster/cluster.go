package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelguard/modelguard/test/tools"
)

// Config describes the cluster Start brings up.
type Config struct {
	Dir    string    // working dir; "" → a new temporary dir
	Users  []User    // extra named users besides the defaults
	Log    io.Writer // progress lines; nil → io.Discard
	Detach bool      // processes survive this Go process (for `make demo`); default: children die with it
	// NoTekton skips Tekton (faster for tests that need only the apiserver).
	NoTekton bool
	// TektonImages overrides the image flags of the Tekton controller,
	// keyed by flag name without dash ("entrypoint-image", "nop-image",
	// "sidecarlogresults-image", "workingdirinit-image", "shell-image",
	// "shell-image-win"). Flags not given get a placeholder reference, or
	// with Node the images in the node's registry: without a node no pod
	// runs, so the images are never pulled.
	TektonImages map[string]string
	// TektonVersion is the Tekton Pipelines to run, one of
	// tools.TektonVersions; "" means $MODELGUARD_TEKTON_VERSION, else
	// tools.TektonVersion. `make test` runs the e2e suite with each.
	TektonVersion string
	// TektonFeatureFlags are set in Tekton's feature-flags ConfigMap
	// before its controller starts (e.g. "set-security-context": "true").
	TektonFeatureFlags map[string]string
	// Node adds a node that runs pods: a registry holding busybox, pause
	// and Tekton's images (built once per machine with ko), containerd,
	// kubelet, kube-scheduler and kube-controller-manager. It needs root
	// and the Debian packages hack/deps.sh installs.
	Node bool
}

// Cluster is a running local control plane.
type Cluster struct {
	Dir    string // working dir: data, certificates, kubeconfigs, logs
	Server string // https://127.0.0.1:<port>
	CAFile string // CA of the apiserver's serving certificate (PEM)
	Tools  *tools.Tools

	// With Config.Node: the registry (host:port, plain http on loopback)
	// the node pulls from, where tests may push their own images, and the
	// node's images in it, by digest.
	Registry string
	Images   *Images

	node    bool
	users   []User
	log     io.Writer
	detach  bool
	ownsDir bool  // Dir was created by Start, so Stop may remove all of it
	ports   []int // every port handed to a process, for tests

	mu       sync.Mutex
	procs    []*Process
	attached []procRecord // processes of a cluster opened with Attach
	stopped  bool
	onStop   []func() // run first by Stop (e.g. pod port forwarders)
	fwd      *forwarder
	netns    int // harness network namespaces made (StartInNetns)
}

// Names of what Start creates inside Dir; Stop removes exactly these when
// Dir existed before Start.
var dirEntries = []string{"etcd", "pki", "apiserver-certs", "tokens.csv",
	"kubeconfigs", "kubectl-cache", "logs", "node", "registry", "chains", "triggers", "isolated", "kserve", "volumes", "git", "demo", stateFile, pidsFile}

const (
	readyTimeout = 60 * time.Second
	pollInterval = 100 * time.Millisecond
	stopGrace    = 5 * time.Second
)

// Start brings up etcd, kube-apiserver, (with cfg.Node) a node and (unless
// cfg.NoTekton) the Tekton controller, building the tools first if needed.
// On any error it stops whatever it had started.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	c := &Cluster{log: cfg.Log, detach: cfg.Detach, node: cfg.Node}
	if c.log == nil {
		c.log = io.Discard
	}
	if err := c.prepareDir(cfg.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	start := time.Now()
	if !cfg.NoTekton {
		// Check before spending time on the rest.
		if err := checkPort8080(); err != nil {
			return nil, err
		}
	}
	tektonVersion := cfg.TektonVersion
	if tektonVersion == "" {
		tektonVersion = os.Getenv(TektonVersionEnv)
	}
	opts := tools.Options{Node: cfg.Node, TektonVersion: tektonVersion}
	var images *tools.NodeImages
	if cfg.Node {
		if cfg.Detach {
			// The node's network (forward.go) lives in this process.
			return nil, fmt.Errorf("a detached cluster cannot have a node")
		}
		if err := checkNodeHost(); err != nil {
			return nil, err
		}
		if c.Tools, err = tools.EnsureWith(ctx, c.log, opts); err != nil {
			return nil, fmt.Errorf("ensure tools: %w", err)
		}
		if images, _, err = tools.LoadNodeImages(ctx, c.Tools, c.log); err != nil {
			return nil, fmt.Errorf("node images: %w", err)
		}
	} else if c.Tools, err = tools.EnsureWith(ctx, c.log, opts); err != nil {
		return nil, fmt.Errorf("ensure tools: %w", err)
	}
	if c.users, err = resolveUsers(cfg.Users); err != nil {
		return nil, err
	}
	pk, err := writePKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return nil, err
	}
	c.CAFile = pk.CAFile
	tokenFile := filepath.Join(c.Dir, "tokens.csv")
	if err := writeTokenFile(tokenFile, c.users); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c.ports = append(c.ports, ports...)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	for _, u := range c.users {
		if err := writeKubeconfig(c.Kubeconfig(u.Name), c.Server, pk.CAPEM, u); err != nil {
			return nil, err
		}
	}
	if err := c.saveState(); err != nil {
		return nil, err
	}

	if err := c.startEtcd(ctx, etcdURL, ports[1]); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := c.startAPIServer(ctx, etcdURL, ports[2], pk, tokenFile); err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	fmt.Fprintf(c.log, "localcluster: apiserver ready at %s (%.1fs)\n", c.Server, time.Since(start).Seconds())
	if cfg.Node {
		if err := c.startNode(ctx, images); err != nil {
			return nil, fmt.Errorf("start node: %w", err)
		}
	}
	if !cfg.NoTekton {
		if err := c.startTekton(ctx, c.tektonImages(cfg.TektonImages), cfg.TektonFeatureFlags); err != nil {
			return nil, fmt.Errorf("start tekton: %w", err)
		}
		fmt.Fprintf(c.log, "localcluster: tekton %s controller ready (%.1fs)\n", c.Tools.TektonVersion, time.Since(start).Seconds())
	}
	if cfg.Node {
		// Waited for last: the kubelet registers while Tekton starts.
		if err := c.waitNodeReady(ctx); err != nil {
			return nil, fmt.Errorf("start node: %w", err)
		}
		fmt.Fprintf(c.log, "localcluster: node %s ready (%.1fs)\n", nodeName, time.Since(start).Seconds())
	}
	return c, nil
}

// prepareDir creates the working dir, or cleans our entries out of an
// existing one after making sure no cluster of ours still runs there.
func (c *Cluster) prepareDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "modelguard-cluster-")
		if err != nil {
			return fmt.Errorf("create cluster dir: %w", err)
		}
		c.Dir, c.ownsDir = d, true
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cluster dir: %w", err)
	}
	c.Dir = abs
	if _, err := os.Stat(abs); os.IsNotExist(err) {
		c.ownsDir = true
	}
	if st, err := readState(abs); err == nil {
		for _, r := range st.Processes {
			if r.running() {
				return fmt.Errorf("a local cluster is still running in %s (%s, pid %d); stop it first (make demo-stop)", abs, r.Name, r.Pid)
			}
		}
	}
	// A node that was not stopped (its test was killed) leaves mounts;
	// never remove files through them.
	if err := unmountUnder(abs); err != nil {
		return fmt.Errorf("clean cluster dir: %w", err)
	}
	for _, e := range dirEntries {
		if err := os.RemoveAll(filepath.Join(abs, e)); err != nil {
			return fmt.Errorf("clean cluster dir: %w", err)
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context, clientURL string, peerPort int) error {
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.StartProcess("etcd", []string{c.Tools.Etcd,
		"--name=localcluster",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=localcluster=" + peerURL,
		// A throwaway cluster needs no durability; fsync dominates
		// write latency on small VMs.
		"--unsafe-no-fsync",
	}, nil)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, http.DefaultClient, clientURL+"/health", "", 30*time.Second)
}

func (c *Cluster) startAPIServer(ctx context.Context, etcdURL string, port int, pk *pki, tokenFile string) error {
	// Without a node no controller-manager creates ServiceAccounts, so the
	// ServiceAccount admission plugin would reject every pod. With a node
	// it must run: it is what mounts a pod's ServiceAccount token, without
	// which no step can use in-cluster config.
	admission := "--disable-admission-plugins=ServiceAccount"
	if c.node {
		admission = "--enable-admission-plugins=ServiceAccount"
	}
	p, err := c.StartProcess("kube-apiserver", []string{c.Tools.KubeAPIServer,
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + pk.CertFile,
		"--tls-private-key-file=" + pk.KeyFile,
		// Still set: the apiserver writes other generated files there.
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pk.SAPubFile,
		"--service-account-signing-key-file=" + pk.SAKeyFile,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		admission,
		// The "kubernetes" Service's Endpoints may not hold a loopback
		// address; without this the apiserver logs errors forever.
		"--endpoint-reconciler-type=none",
	}, nil)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(pk.CAFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	// Verifying against our CA also proves the serving certificate covers
	// 127.0.0.1.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	admin, _ := c.User(UserAdmin)
	return waitHTTP(ctx, p, client, c.Server+"/readyz", admin.Token, readyTimeout)
}

// StartProcess starts a process that belongs to the cluster: Stop stops it,
// its output goes to Dir/logs/<name>.log, env is appended to os.Environ().
// In Detach mode it survives this Go process like the control plane.
func (c *Cluster) StartProcess(name string, argv []string, env []string) (*Process, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("start process: bad name %q", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, fmt.Errorf("start %s: cluster is stopped", name)
	}
	p, err := startProcess(filepath.Join(c.Dir, "logs"), name, argv, env, c.detach)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	// Record the pid at once, so `down` finds it even if we die now.
	if err := c.saveStateLocked(); err != nil {
		fmt.Fprintf(c.log, "localcluster: %v\n", err)
	}
	return p, nil
}

// Stop stops every process the cluster started, the last started first
// (SIGTERM, SIGKILL after 5s), then removes Dir unless the cluster is
// detached or MODELGUARD_KEEP_CLUSTER=1. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	procs := append([]*Process(nil), c.procs...)
	attached := c.attached
	hooks := c.onStop
	c.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		hooks[i]()
	}

	node := c.node || hasNode(c.Dir)
	if node {
		// The kubelet first, or it restarts the containers we kill.
		for _, p := range procs {
			if p.name == "kubelet" {
				if err := p.stopWithin(stopGrace); err != nil {
					fmt.Fprintf(c.log, "localcluster: %v\n", err)
				}
			}
		}
		stopRecords(recordsNamed(attached, "kubelet"), c.log)
		stopNodeTasks(c.Dir, c.log)
	}
	// Tekton before the apiserver before etcd: each shuts down cleanly
	// only while what it talks to is still there.
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stopWithin(stopGrace); err != nil {
			fmt.Fprintf(c.log, "localcluster: %v\n", err)
		}
	}
	stopRecords(attached, c.log)
	if node {
		cleanupNode(c.Dir, c.log)
		// Never remove files through a mount: a pod's hostPath volume
		// is a bind mount of the host's files.
		if m, err := MountsUnder(c.Dir); err != nil || len(m) > 0 {
			fmt.Fprintf(c.log, "localcluster: kept cluster dir %s: still mounted there: %v %v\n", c.Dir, m, err)
			return
		}
	}

	if c.detach || os.Getenv("MODELGUARD_KEEP_CLUSTER") == "1" {
		fmt.Fprintf(c.log, "localcluster: kept cluster dir %s\n", c.Dir)
		return
	}
	if c.ownsDir {
		_ = os.RemoveAll(c.Dir)
		return
	}
	for _, e := range dirEntries {
		_ = os.RemoveAll(filepath.Join(c.Dir, e))
	}
}
