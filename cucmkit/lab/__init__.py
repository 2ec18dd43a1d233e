"""cucmkit.lab."""
