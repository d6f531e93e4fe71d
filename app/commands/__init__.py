"""`flask` command groups: each module exposes a click `group`."""
