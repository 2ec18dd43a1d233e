"""cucmkit.cucm."""
