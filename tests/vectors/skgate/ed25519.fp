256 SHA256:zitp4NRyw+BQpAHqhOBQHyVvUQiVshq0VYrtDX6SoIc skgate vectors ed25519 (ED25519)
