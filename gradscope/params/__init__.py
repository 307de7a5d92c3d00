"""params layer."""
