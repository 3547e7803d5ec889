"""Latent-space editing: semantic directions (SeFa, GANSpace), applying them to ws, and projecting images into W."""
