"""Game days: a planned, ordered set of drills, scheduled and run unattended (no Django)."""
