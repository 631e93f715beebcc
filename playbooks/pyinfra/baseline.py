"""Baseline security hardening from the provdc control catalogue (pyinfra engine).

    pyinfra playbooks/pyinfra/inventory.py playbooks/pyinfra/baseline.py [--dry] [--diff]

Same toggles (`--data baseline_vn_ssh_02=false`, or in the inventory) and the same
security-level selection (`provdc_security_level`) as playbooks/baseline.yml;
`--data baseline_only=VN-SSH-02,ssh` limits the run like Ansible's --tags,
`--data baseline_skip=VN-FILE-01` like its --skip-tags.
"""

from provdc.pyinfra_engine.deploy import baseline

baseline()
