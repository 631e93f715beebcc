"""Backups of every host the topology's backup policies name, to the BACKUP zone's
repository host (pyinfra engine; same specs, script and templates as playbooks/backup.yml).
The operator's password is given at run time, never kept in the project.

    PROVDC_BACKUP_PASSWORD=... pyinfra playbooks/pyinfra/inventory.py \
        playbooks/pyinfra/backup.py [--dry]
"""

from provdc.pyinfra_engine.backup import backup

backup()
