"""On-device profile of a model variant: size, compute, latency, memory."""
