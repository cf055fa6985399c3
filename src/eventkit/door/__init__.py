"""At the door: checking people in."""
