// The pod sandbox's first process on the test kit's real node: it holds the pod's
// namespaces open, reaps the orphans a shared process namespace hands it, and ends on
// SIGTERM or SIGINT. No registry can be pulled from here, so the node's pause image is
// built from this file (llmservice_testkit.cluster.images).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited; one SIGCHLD may stand for several.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
