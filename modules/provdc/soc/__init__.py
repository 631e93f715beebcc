"""Security monitoring (the 4-layer model): the provincial SOC collector, the agents on every
host, and the onward link to the national centre (NCSC) or a managed SOC.

- retention: `provdc.topology.retention` (one table by level, shared with the cloud);
- `pki`: the lab certificate authority and per-host certificates (production brings its own);
- `upstream`: the onward-link settings (syslog/TLS or CEF, severity filter), validated;
- `prepare`: what `playbooks/soc.yml` asks on the controller before touching any host;
- `labproof`: helpers the end-to-end tests and the benchmark share.
"""
