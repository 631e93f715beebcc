"""What provdc knows about a host: the typed contract every inventory is checked against.

Layer: above `provdc.topology` (hosts are checked against the topology they name), below
every feature package (segmentation, qos, soc, controls, audit, cloud, pyinfra engine, lab),
which read hosts through `provdc.hosts.inventory` and never an untyped dict first.
"""
