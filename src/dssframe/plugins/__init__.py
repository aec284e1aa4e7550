"""The plugin host: every hook specification (hookspecs), the registries of
transports and retention policies, plugin settings, event delivery to notifiers
(notify), and the entry-point scan that finds installed plugins (entrypoints)."""
