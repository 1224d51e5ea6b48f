"""Slack surfaces a person looks at rather than a channel: the App Home dashboard and the rollback
modal, filled and refreshed on workers (the listeners only open them and enqueue)."""
