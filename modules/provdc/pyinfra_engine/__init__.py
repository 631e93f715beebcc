"""pyinfra as a second engine, from the same sources as the Ansible roles.

Nothing here re-states a control or a bandwidth class: the catalogue
(`provdc.controls`) and the topology (`provdc.qos.policy`) are the sources, and the fix
items, templates and OS variables are the Ansible role's own:

- `selection`  which controls apply to a host (toggles, security level, exempt groups,
               OS family: the rules of the role's prepare.yml) and the per-kind fix views,
               built from `provdc.controls.ansible.control_vars`; the role's Jinja templates
               rendered with the same variables, so both engines write the same bytes;
- `lineedit`   Ansible lineinfile's exact semantics as a pure function;
- `facts`      the pyinfra facts the operations read (one shell round trip each);
- `operations` the custom `@operation`s (managed file with validate-then-move, lineinfile,
               live sysctl, remount, PAM profiles, units, HTB apply on a host or in the
               lab's core namespace...);
- `deploy`     the `@deploy`s `baseline()` and `bandwidth()`;
- `backup`     the `@deploy` `backup()`, from the backup role's specs, script and templates;
- `inventory`  a pyinfra inventory derived from any Ansible inventory (lab or cloud).

Entry points ops teams run live in `playbooks/pyinfra/` (see README, pyinfra section).
"""
