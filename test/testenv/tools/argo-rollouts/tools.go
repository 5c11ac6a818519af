//go:build tools

// Package tools names the binary this module builds, so go mod tidy keeps
// its dependencies.
package tools

import (
	_ "github.com/argoproj/argo-rollouts/cmd/rollouts-controller"
)
