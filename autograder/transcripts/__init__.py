"""Signed transcripts: the service's Ed25519 key and the /api/transcript routes.

    signing.py     the key pair, signing and verifying canonical JSON
    api.py         GET /api/transcript (a learner's signed record), the public key
"""
