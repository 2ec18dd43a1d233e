"""cucmkit.renewal."""
