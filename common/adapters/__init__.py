"""Adapters to third-party model zoos (one module per library). ``common``'s core never imports them; the tasks that use a zoo do."""
