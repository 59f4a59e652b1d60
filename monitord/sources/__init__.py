"""What the scheduler polls; each source returns domain objects."""
