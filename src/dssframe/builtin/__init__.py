"""The builtin plugins, written exactly like third-party ones."""
