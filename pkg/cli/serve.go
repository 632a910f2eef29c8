package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	*globalOptions
	models, name, listen string
	wait                 time.Duration
}

// modelInitModeEnv is what KServe sets to "async" on a runtime whose model
// arrives after it starts (a modelcar's files appear once its sidecar has
// linked them).
const modelInitModeEnv = "MODEL_INIT_MODE"

func newServeCommand(g *globalOptions) *cobra.Command {
	o := &serveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a model directory over KServe's Open Inference Protocol (a demo server, runs no model)",
		Long: `serve loads every file of a model directory (a modelcar's /models), then
answers the Open Inference Protocol's health and metadata calls
(/v2/health/ready, /v2/models/<name>) with the model's content digest, so a
deployment can prove it serves exactly the files that were built, scanned
and signed. /v2/models/<name>/infer answers with a digest of the request:
it is a stand-in for a runtime, for demos and tests.`,
		Args: cobra.NoArgs,
		RunE: o.run,
	}
	f := cmd.Flags()
	f.StringVar(&o.models, "models", "/models", "the model directory")
	f.StringVar(&o.name, "name", "model", "the model's name in URLs")
	f.StringVar(&o.listen, "listen", ":8080", "address to listen on")
	f.DurationVar(&o.wait, "wait", 0, "keep trying to load the model this long (default 3m when $MODEL_INIT_MODE=async, as KServe sets for modelcars, else 0)")
	return cmd
}

// load loads the model, retrying until wait has passed: under KServe the
// modelcar's files appear a moment after this container starts.
func (o *serveOptions) load(ctx context.Context) (*modelserver.Model, error) {
	wait := o.wait
	if wait == 0 && os.Getenv(modelInitModeEnv) == "async" {
		wait = 3 * time.Minute
	}
	deadline := time.Now().Add(wait)
	for {
		m, err := modelserver.Load(o.name, o.models)
		if err == nil || !time.Now().Before(deadline) {
			return m, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (o *serveOptions) run(cmd *cobra.Command, _ []string) error {
	m, err := o.load(cmd.Context())
	if err != nil {
		return fmt.Errorf("--models: %w", err)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "serving model %s (%d files, %d bytes, %s) on %s\n", m.Name, m.Files, m.Bytes, m.Digest, ln.Addr())
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Handler: modelserver.Handler(m), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
