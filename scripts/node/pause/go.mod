module cti.local/pause

go 1.26
