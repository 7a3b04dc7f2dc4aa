package normalize

// Redacted replaces secret values in Event.Raw, whatever the source.
const Redacted = "[REDACTED]"
