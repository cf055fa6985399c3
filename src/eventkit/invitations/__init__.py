"""Invitations: the campaign to the invitee list."""
