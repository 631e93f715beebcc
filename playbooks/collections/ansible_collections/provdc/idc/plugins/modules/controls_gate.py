# The action plugin of the same name does the work, on the controller; this file documents it.

DOCUMENTATION = r"""
module: controls_gate
short_description: The baseline's check-first gate, with the audit's own checks
description:
  - Evaluates, for every host, the output of the baseline role's C(probe.sh) (the audit's
    check commands run in one round trip) against the host's selected controls, with the
    same code the audit uses, and returns the controls that fail. The role then runs only
    the fixes of the kinds with a failing control.
  - Runs on the controller, in the Python that runs Ansible, which must import the provdc
    package (its control catalogue).
version_added: 0.1.0
author: provdc
options:
  hosts:
    description:
      - Per host, C(output) (what C(probe.sh) printed), C(controls) (the ids of the host's
        selected controls) and optionally C(in_container) (true where global kernel settings
        are read-only; by default read from C(output), where C(probe.sh) answers
        C(systemd-detect-virt --container)).
    type: dict
    required: true
  verify:
    description:
      - After the fixes - judge the same request again and return, per host, why each control
        still fails and which lines written elsewhere override it (RV(verdicts)) instead of
        RV(failing).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Only evaluates; check mode changes nothing.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Find the selected controls that fail
  provdc.idc.controls_gate:
    hosts:
      lgsp-1:
        output: "{{ baseline_probe.stdout }}"
        controls: [VN-SSH-02, VN-KRN-01]
  run_once: true
  register: baseline_gate
"""

RETURN = r"""
failing:
  description: Per host, the ids of its selected controls whose check fails.
  returned: O(verify=false)
  type: dict
  sample: {lgsp-1: [VN-SSH-02]}
in_container:
  description:
    - Per host, whether it is a container, as sent or as its C(output) says (null where
      neither says, e.g. the probe did not run).
  returned: O(verify=false)
  type: dict
  sample: {lgsp-1: true}
verdicts:
  description:
    - Per host, C(failing) (control id to why it still fails, naming the file that decides)
      and C(overrides) (lines written elsewhere the role may disable).
  returned: O(verify=true)
  type: dict
"""
