package plan

// Check codes, all in one place so that none is ever reused: they are
// stable, scripts and CI match on them. Each family's checks are in
// checks_FAMILY.go; a flavor's own checks in flavor_NAME.go.
const (
	CodeTargetMissing           = "MW001" // target control plane not installed
	CodeTargetNotReady          = "MW002" // target istiod not Ready
	CodeSourceMissing           = "MW003" // source revision not installed
	CodeBackyardsVersion        = "MW004" // Backyards release does not ship the target Istio
	CodeEnvoyFilterLua          = "MW005" // pre-1.7 Lua EnvoyFilter without proxy version match
	CodeGatewayPrivilegedPort   = "MW006" // non-root gateway with a port below 1024 on 1.7+
	CodeHeadlessService         = "MW007" // headless Service on Istio 1.7.0
	CodeNamespaceNotInjected    = "MW008" // wave namespace not labeled for the source revision
	CodeConflictingLabels       = "MW009" // both istio-injection and istio.io/rev
	CodeProxyUnexpected         = "MW010" // pod not running the source proxy
	CodeNotRollable             = "MW011" // workload meshwave cannot restart
	CodeForbidden               = "MW012" // caller lacks a permission apply needs
	CodeNamespaceMissing        = "MW013" // wave namespace does not exist
	CodeGatewayMissing          = "MW014" // gateway block names no gateway
	CodeOldStillUsed            = "MW015" // old control plane still used after the plan
	CodeWaveEmpty               = "MW016" // wave selects no namespace
	CodeTagMissing              = "MW017" // tag block names no revision tag
	CodeWebhookDangling         = "MW018" // a webhook would call the removed control plane
	CodeHelmInstalled           = "MW019" // old revision installed by Helm: uninstall the release
	CodeInjectorOverlap         = "MW020" // two injection webhooks select a moved namespace
	CodeNamespaceDeleted        = "MW021" // wave namespace deleted (terminating or gone) during the upgrade
	CodeGitOpsManaged           = "MW030" // the plan changes an object a GitOps controller sets back
	CodeProxyPinned             = "MW031" // pod template pins a proxy image: a restart keeps it
	CodeInjectTemplateMissing   = "MW032" // pod template names an injection template the target lacks
	CodeDowngrade               = "MW033" // target Istio older than the source: proxies ahead of their control plane
	CodeRollbackSkew            = "MW034" // automatic rollback across more than one minor version
	CodeSharedProxySkew         = "MW035" // a jump of more than one minor with istio-cni or ztunnel installed
	CodeNextPodNotTarget        = "MW040" // after the wave, a workload's next pod would not be injected by the target
	CodePinnedToOld             = "MW041" // a workload's pod-template label pins it to the old control plane
	CodeUninstallAwaitsFollowUp = "MW042" // the uninstall waits for the manual follow-up: apply stops before it
	CodeManifestRevision        = "MW043" // the install's manifest is for another revision than the target
	CodeInstallChangesOther     = "MW044" // the install would change an object of another revision
	CodeCRDDowngrade            = "MW045" // the install would downgrade a CRD
	CodeManifestUnknownKind     = "MW046" // the manifest names a kind the cluster does not serve
	CodeManifestRefused         = "MW047" // the API server refused the dry-run apply of a manifest object
)
