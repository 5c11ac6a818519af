// Package meshsim simulates an Istio service mesh on a testenv cluster: real
// CRDs, real mutating webhooks served by this process, simulated proxies. It
// is a test fixture, never part of the meshwave CLI.
//
// What it provides:
//
//   - CRDs: Banzai Cloud istio-operator Istio and MeshGateway
//     (istio.banzaicloud.io/v1beta1), Istio EnvoyFilter
//     (networking.istio.io/v1alpha3) and IstioOperator
//     (install.istio.io/v1alpha1). Known fields are typed, the rest is kept, so
//     real manifests apply.
//   - Control planes. For an Istio CR: an istiod Deployment (app=istiod,
//     istio.io/rev=<name>.<namespace>), an istio-operator-v1Nx StatefulSet and
//     a MutatingWebhookConfiguration with Istio 1.6/1.7's selection rules (the
//     CR annotated meshsim.meshwave.dev/default-injector=true injects
//     istio-injection=enabled namespaces; the others namespaces labeled
//     istio.io/rev=<revision> without istio-injection). For an IstioOperator:
//     istiod-<revision> and upstream's rev.namespace/rev.object webhooks (plus
//     namespace/object ones for the default revision). Revision tags
//     (SetTag) are istio-revision-tag-<tag> webhooks as istioctl makes them.
//     Pods labeled sidecar.istio.io/inject=false are never injected.
//     An Istio CR's status.Status is Reconciling when first seen and
//     Available once its objects are in place, whoever created the CR (a
//     scenario, or a plan's install block). Deleting the CR uninstalls all
//     of it.
//   - Injection: the webhook server (HTTPS on 127.0.0.1, self-signed CA in
//     each caBundle, URL https://127.0.0.1:PORT/inject/<revision>) adds
//     istio-init and istio-proxy with the revision's proxy image, the label
//     istio.io/rev=<revision> and the sidecar.istio.io/status annotation. A
//     tag's webhook (/inject/tag/<tag>) injects the revision its
//     configuration's istio.io/rev label names at that moment.
//   - Gateways: a MeshGateway's Deployment (app=<name>, istio.io/rev) runs the
//     proxy image of the control plane in spec.istioControlPlane; patching it
//     rolls the gateway over. Status.Status is Available or ReconcileFailed.
//   - Faults, decided when a pod is admitted; such a pod runs, but its
//     istio-proxy crash-loops and it never becomes Ready (annotation
//     meshsim.meshwave.dev/fault says which):
//     (a) its control plane is unhealthy (SetUnhealthy, or the CR annotation
//     meshsim.meshwave.dev/unhealthy=true);
//     (b) on Istio >= 1.7, an EnvoyFilter in its namespace or the control
//     plane's namespace uses the pre-1.7 Lua syntax without a proxyVersion
//     match that excludes the proxy (AddLuaEnvoyFilter);
//     (c) on a Banzai control plane >= 1.7, a MeshGateway without
//     runAsRoot=true binds a port below 1024.
//   - Scenarios: ScenarioBackyards ("backyards-1.6-to-1.7", the guide's
//     starting point), ScenarioBackyardsOnly16 ("backyards-1.6-only", the
//     same cluster before `backyards install -a`: only the 1.6 control
//     plane, which a plan's install block upgrades from) and ScenarioIstio
//     ("istio-1-26-to-1-27").
//
// Use from a test (the cluster comes from testenv):
//
//	env := testenv.Require(t)
//	sim, err := meshsim.Start(ctx, env.Config) // serves until ctx is done
//	err = sim.LoadScenario(ctx, meshsim.ScenarioBackyards)
//	err = sim.SetUnhealthy(ctx, "cp-v17x.istio-system", true)
//	err = sim.AddLuaEnvoyFilter(ctx, "demo-a", "lua", meshsim.LuaFilter{OldSyntax: true})
//	err = sim.AddNamespace(ctx, meshsim.AppNamespace("scale-001", labels, 3))
//	err = sim.WaitReady(ctx, "demo-a", "demo-b")
//
// One Sim serves one cluster. The webhooks point at this process: once it
// stops, pods in injected namespaces cannot be created (as with istiod
// down) until a Sim starts again, which re-points every webhook at itself.
// The command cmd/meshsim runs one for the demo.
//
// The package must not import meshwave's own packages (plan, executor,
// providers): it simulates the cluster the tool is tested against.
package meshsim
