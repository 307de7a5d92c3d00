"""studies layer."""
