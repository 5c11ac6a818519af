// Command meshwave plans and applies Istio control-plane canary upgrades.
package main

import (
	"os"
)

func main() {
	// The first SIGINT or SIGTERM cancels the context every blocking call
	// uses, so the command stops cleanly with its state saved; a second one
	// ends the process at once.
	tuneGC()
	ctx, stop := interruptContext(func(sig os.Signal) { os.Exit(signalExitCode(sig)) })
	stopProfile := startProfiles(os.Stderr)
	code := run(ctx, os.Args[1:], defaultStreams())
	stopProfile()
	stop()
	os.Exit(code)
}
