//go:build tools

// Package tools names the binaries this module builds, so go mod tidy keeps
// their dependencies.
package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
