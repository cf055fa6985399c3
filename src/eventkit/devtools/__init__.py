"""Developer tools apart from the runtime: the demo, sample data, the local mail sink."""
