package main

// The xDS address through the pod's resolver, as Envoy's STRICT_DNS cluster resolves it:
// /etc/resolv.conf's search list and ndots, each candidate asked as a fully qualified name so
// the log says which name cluster DNS answered.

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

type resolved struct {
	Name string
	IP   string
}

func searchCandidates(host, resolvConf string) []string {
	if strings.HasSuffix(host, ".") {
		return []string{host}
	}
	ndots := 1
	var search []string
	for _, line := range strings.Split(resolvConf, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "search", "domain":
			search = f[1:]
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil {
						ndots = n
					}
				}
			}
		}
	}
	var withSearch []string
	for _, s := range search {
		withSearch = append(withSearch, host+"."+strings.TrimSuffix(s, ".")+".")
	}
	if strings.Count(host, ".") >= ndots {
		return append([]string{host + "."}, withSearch...)
	}
	return append(withSearch, host+".")
}

func resolveXds(ctx context.Context, host string) (resolved, error) {
	if ip := net.ParseIP(host); ip != nil {
		return resolved{Name: host, IP: host}, nil
	}
	conf, _ := os.ReadFile("/etc/resolv.conf")
	var errs []string
	for _, name := range searchCandidates(host, string(conf)) {
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", name)
		if err == nil && len(ips) > 0 {
			return resolved{Name: name, IP: ips[0].String()}, nil
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	return resolved{}, fmt.Errorf("%s did not resolve: %s", host, strings.Join(errs, "; "))
}
