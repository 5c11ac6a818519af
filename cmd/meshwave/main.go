// Command meshwave plans and applies Istio control-plane canary upgrades.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], defaultStreams()))
}
