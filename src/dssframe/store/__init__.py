"""The files dss owns: the destination directory (scan, rename, remove), the metadata
document beside each snapshot, the lock, pins, the current snapshot, the run loop's
state file, config files, the user directories and free space; one atomic writer for
all of them. Below the plugin host and the engine; above the pure core."""
