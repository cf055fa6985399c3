"""After the event: the recap, the attendance list, minutes and figures."""
