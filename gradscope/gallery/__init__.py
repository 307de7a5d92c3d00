"""gallery layer."""
