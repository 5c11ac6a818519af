// Package testenv runs a real local Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler started by
// kwokctl's binary runtime from the binaries `make testenv` builds
// (test/testenv/build.sh), with one fake node whose pods kwok drives through
// their lifecycle without running containers.
//
// A test package gets one cluster for all its tests:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		env := testenv.Require(t) // skips under -short, fails without MESHWAVE_TESTENV_BIN
//		env.Client.CoreV1()...    // kubernetes.Interface
//		env.Config                // *rest.Config
//		env.Kubeconfig            // path, for kubectl or the meshwave CLI
//		env.Kubectl(ctx, "get", "po", "-A")
//	}
//
// Main starts the cluster before the tests and deletes it afterwards, also
// when a test fails, and on SIGINT or SIGTERM. A reaper process watches the
// test binary and deletes the cluster if the binary dies without cleaning up
// (a -timeout panic, SIGKILL). Under -short no cluster is started and Require
// skips, saying why. Without MESHWAVE_TESTENV_BIN, Require fails and says to
// run `make test`.
//
// Pods in a testenv cluster start after 1-2 s (annotations
// AnnotationStartDelay and AnnotationStartDelayMax change that per pod). A
// pod annotated AnnotationNotReady runs but never becomes Ready; the Stages
// that do this are in stages.yaml.
//
// kwokctl never downloads anything here: every binary is passed explicitly,
// and its work directory (KWOK_WORKDIR), config and kubeconfig live in the
// cluster's own directory, so nothing leaks into $HOME between runs.
//
// The package must not know about Istio or meshsim; it only provides the
// cluster.
package testenv
