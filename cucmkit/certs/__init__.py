"""cucmkit.certs."""
