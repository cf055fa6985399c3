"""After the event: the recap, the attendance list and figures."""
