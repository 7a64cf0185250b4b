"""What every kind of job shares: the job runner (``jobs``)."""
