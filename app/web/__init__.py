"""Blueprints, one per audience: public site, participant self-service, console, API."""
