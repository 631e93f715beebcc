"""Zone segmentation from the topology's allowed-flow matrix.

One source, three renderings: the cloud stacks turn `flows` into security groups; this
package turns the same matrix into nftables rulesets for the data-centre core (the zone
firewall, a default-deny `forward` chain) and for every host (a default-deny `input` chain),
guards the operator's own SSH path before anything is applied, and proves the result with
real traffic on the lab.

    matrix.py    the matrix resolved to addresses, plus the operations flows it must carry
    render.py    rulesets -> nftables text (one table per firewall, replaced atomically)
    guard.py     refuse a ruleset that would cut the operator's SSH path
    nftapply.py  the script installed on hosts: check, apply with a timed revert, confirm
    probe.py     the listener/connector shipped to hosts for the traffic proof
    verify.py    allowed flows open, forbidden pairs closed, on the lab
"""
