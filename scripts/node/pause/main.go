// The pod sandbox's pause process, as the Kubernetes pause image runs it: PID 1 of the pod,
// it holds the namespaces, reaps orphaned children and exits 0 on SIGINT or SIGTERM. Built by
// scripts/node/build-images.sh into the local pause image (no registry image can be had here).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "cti-pause 3.10"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println(version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", s)
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
