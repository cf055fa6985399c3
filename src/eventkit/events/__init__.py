"""Events: creating, updating and looking them up, and announcing changes."""
