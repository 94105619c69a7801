// Command pause is the sandbox process of the real node's pods (containerd's sandbox image).
//
// No registry can be reached from the test machines, so the pause image is built here from
// this file (llmservice_testkit.images). A pod's sandbox holds its namespaces open while
// its containers come and go; this process only has to stay alive, end at once when the
// runtime asks (SIGINT or SIGTERM), and, as PID 1 of a pod that shares its process
// namespace, reap the orphans that get re-parented to it so they do not stay zombies.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("pause (llmservice-operator test kit)")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		// Ending on request is the whole shutdown: there is nothing to flush or close.
		os.Exit(0)
	}
}

// reap collects every child that has exited. SIGCHLD is not queued, so one signal may
// stand for several exits: wait until no exited child is left.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
