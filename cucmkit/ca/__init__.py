"""cucmkit.ca."""
