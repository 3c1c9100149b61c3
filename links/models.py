"""Models of this app arrive with their issue; the app is registered from the start."""
