"""Image registries: references, credentials, the Registry v2 client and the stored registries."""
