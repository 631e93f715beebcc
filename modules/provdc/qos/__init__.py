"""Bandwidth policy on the TSLCD: HTB trees from the topology's tiers, applied on both ends
of every site gateway's uplink, checked against the live kernel and measured with iperf3."""
