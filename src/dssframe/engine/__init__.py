"""What dss does with the core and the store: a job creates, prunes and removes
snapshots (job), runs the transport's process (runner), loops forever (daemon),
restores, adopts and describes snapshots (restore, lifecycle), compares and measures
them (diff, du), and checks paths on the real file system before copying (preflight)."""
