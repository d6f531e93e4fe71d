"""Blueprints, one per audience: public site, participant self-service (and later the console and API)."""
