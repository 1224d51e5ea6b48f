"""Everything that faces people: the CLI today, the Slack app and HTTP routes as they land."""
