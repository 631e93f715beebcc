"""Backups of the data centre's hosts: what each host backs up to the BACKUP zone's
repository (from the topology's backup policies), and the restore drill that proves it."""
