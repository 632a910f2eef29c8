// Command acs-emulator serves the ACS Central TEST DOUBLE (package
// acsemulator) over HTTPS on a loopback address, for the demo and for manual
// runs of roxctl-like clients. It is not ACS: every verdict comes from the
// data file.
//
//	acs-emulator --data testdata/central.yaml --token-file token.txt --ca-out ca.pem
//
// It prints the endpoint (host:port) as the only line on stdout, so a script
// can capture it as ROX_ENDPOINT; everything else goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/modelguard/modelguard/test/acsemulator"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "acs-emulator:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("acs-emulator", flag.ContinueOnError)
	dataPath := fs.String("data", "testdata/central.yaml", "emulator data file (YAML)")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free port)")
	tokenFile := fs.String("token-file", "", "file holding the API token clients must send as 'Authorization: Bearer' (required)")
	caOut := fs.String("ca-out", "", "write the server's self-signed CA certificate (PEM) to this file")
	kubeconfig := fs.String("sensor-kubeconfig", "", "play Sensor for this cluster: report its Deployments and their entrypoints as runtime data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// Checked before anything else so a bad address fails without side effects.
	if err := acsemulator.CheckLoopback(*addr); err != nil {
		return err
	}
	if *tokenFile == "" {
		return errors.New("--token-file is required: the emulator has no built-in or anonymous token")
	}
	raw, err := os.ReadFile(*tokenFile)
	if err != nil {
		return err
	}
	// Trimmed like roxctl trims tokens, so a Secret's trailing newline is fine.
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return fmt.Errorf("%s is empty", *tokenFile)
	}
	data, err := acsemulator.Load(*dataPath)
	if err != nil {
		return err
	}
	srv, err := acsemulator.NewServer(acsemulator.New(data, token), *addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
		if err != nil {
			return err
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := srv.WatchDeployments(ctx, kube, acsemulator.SensorOptions{}); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "acs-emulator: reporting the Deployments of", cfg.Host, "as an emulated Sensor")
	}
	if *caOut != "" {
		if err := os.WriteFile(*caOut, srv.CAPEM, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "acs-emulator: TEST DOUBLE of ACS Central (not ACS) serving %s from %s\n", srv.URL, *dataPath)
	if *caOut == "" {
		fmt.Fprintln(os.Stderr, "acs-emulator: no --ca-out given; clients cannot verify the self-signed certificate")
	}
	fmt.Println(srv.Endpoint)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	fmt.Fprintln(os.Stderr, "acs-emulator: stopping")
	return nil
}
