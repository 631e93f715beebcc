"""Reusable ComponentResources of the cloud data centre (see program.py for the wiring)."""
