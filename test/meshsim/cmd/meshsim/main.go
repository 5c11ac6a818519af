// Command meshsim serves the simulated Istio mesh for a long-lived cluster
// (the demo): it installs the CRDs and a scenario, then serves the injection
// webhooks and the operator controllers until SIGINT or SIGTERM.
//
//	meshsim --kubeconfig KUBECONFIG --scenario backyards-1.6-to-1.7 \
//	        --pid-file DIR/meshsim.pid --ready-file DIR/meshsim.ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshwave/meshwave/test/meshsim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "meshsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("meshsim", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	scenario := fs.String("scenario", "", "scenario to install on start ("+strings.Join(meshsim.ScenarioNames(), ", ")+"); empty installs only the CRDs")
	pidFile := fs.String("pid-file", "", "write the process id here while running")
	readyFile := fs.String("ready-file", "", "create this file once the scenario runs")
	healthFile := fs.String("app-health-file", "", "serve the simulated apps' health over plain HTTP on loopback and write its base URL here; GET BASE/NAMESPACE/APP answers 200 when every pod labeled app=APP is Ready")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*pidFile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sim, err := meshsim.Start(ctx, cfg, meshsim.WithLog(os.Stderr))
	if err != nil {
		return err
	}
	if *scenario != "" {
		loadCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := sim.LoadScenario(loadCtx, *scenario)
		cancel()
		if err != nil {
			return err
		}
	}
	if *healthFile != "" {
		base, err := serveAppHealth(ctx, cfg)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*healthFile, []byte(base+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*healthFile)
	}
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	<-sim.Done()
	return nil
}

// serveAppHealth answers GET /NAMESPACE/APP with 200 when the app's pods all
// run and are Ready, 503 otherwise: what an http gate of a plan checks.
func serveAppHealth(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 2 {
			http.Error(w, "GET /NAMESPACE/APP", http.StatusNotFound)
			return
		}
		pods, err := cs.CoreV1().Pods(parts[0]).List(r.Context(), metav1.ListOptions{LabelSelector: "app=" + parts[1]})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		ready := 0
		for i := range pods.Items {
			if meshsim.PodReady(&pods.Items[i]) {
				ready++
			}
		}
		if len(pods.Items) == 0 || ready != len(pods.Items) {
			http.Error(w, fmt.Sprintf("%d/%d pods Ready", ready, len(pods.Items)), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%d/%d pods Ready\n", ready, len(pods.Items))
	})}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}
