"""The Pulumi program (filled in by the cloud stacks work): valid but empty for now."""
