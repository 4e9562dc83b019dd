"""Direct access: user-supplied pre-signed or unsigned http(s) URLs, never signed by us."""
