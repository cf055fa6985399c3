"""Minutes of a meeting: its decisions and tasks, and the open tasks a series' next invitation lists."""
