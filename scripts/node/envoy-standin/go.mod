module cti.local/envoy-standin

go 1.26
