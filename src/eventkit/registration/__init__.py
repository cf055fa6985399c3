"""Registration: places, the waiting list, opt-in, cancellation."""
